//! `radpipe info`: the adapters wgpu sees and the one radpipe picks.

use radpipe::{Engine, Error};

/// Arguments of `radpipe info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Prints the adapters; fails when none can be opened.
pub fn run(args: &InfoArgs) -> Result<(), Error> {
    let adapters = Engine::list_adapters();
    let chosen = Engine::new().map(|e| e.summary());
    if args.json {
        let value = serde_json::json!({
            "adapters": adapters,
            "chosen": chosen.as_ref().ok(),
            "error": chosen.as_ref().err().map(ToString::to_string),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!("adapters:");
        for a in &adapters {
            let bus = if a.pci_bus_id.is_empty() {
                String::new()
            } else {
                format!("; pci {}", a.pci_bus_id)
            };
            println!(
                "  {} [{}; {}; {}{bus}]",
                a.name, a.backend, a.device_type, a.driver
            );
        }
        match &chosen {
            Ok(c) => println!("chosen: {} [{}; {}]", c.name, c.backend, c.device_type),
            Err(e) => println!("chosen: none ({e})"),
        }
    }
    chosen.map(|_| ())
}
