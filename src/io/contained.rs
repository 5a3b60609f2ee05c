//! Panics inside third-party parsers and decoders, contained without their text.
//!
//! dicom-rs and its codec adapters panic on some corrupt input (the JPEG 2000 adapter indexes out of
//! range on truncated codestreams). radpipe turns such a panic into an error naming the file and the
//! codec, but the default panic hook would still print the panic's message and location to stderr
//! first — text about radpipe's dependencies that a user can do nothing with, above the one line that
//! matters. [`run`] marks the current thread while the third-party code runs; the hook installed
//! once (chained in front of whatever hook was there) stays silent for panics on a marked thread and
//! passes every other panic on unchanged.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    static CONTAINED: Cell<u32> = const { Cell::new(0) };
}

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINED.with(|c| c.get()) == 0 {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, returning `None` if it panicked; the panic's message is not printed.
pub fn run<T>(f: impl FnOnce() -> T) -> Option<T> {
    install_hook();
    CONTAINED.with(|c| c.set(c.get() + 1));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(c.get().saturating_sub(1)));
    outcome.ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_contained_panic_becomes_none_and_the_thread_goes_on() {
        let got: Option<u32> = super::run(|| panic!("inside a decoder"));
        assert_eq!(got, None);
        assert_eq!(super::run(|| 7), Some(7));
        super::CONTAINED.with(|c| assert_eq!(c.get(), 0));
    }
}
