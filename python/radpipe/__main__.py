"""``python -m radpipe info [--json]``: what ``radpipe info`` prints."""

import sys

from . import info


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] != "info":
        print("usage: python -m radpipe info [--json]", file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    as_json = "--json" in args[1:]
    text = info(as_json=as_json)
    print(text)
    failed = '"chosen": null' in text if as_json else "\nchosen: none (" in text
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
