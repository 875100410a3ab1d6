//! `percept serve`: a checkpoint behind `percept::serve`'s HTTP API and draw-a-digit page.

use std::path::PathBuf;

use clap::Args;
use percept::prelude::*;

use crate::Error;

#[derive(Args)]
pub struct ServeArgs {
    /// The checkpoint.
    #[arg(long, alias = "model")]
    checkpoint: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Predictions run at once, each on a copy of the model (default: every core).
    #[arg(long)]
    workers: Option<usize>,
    /// Largest request body in bytes (default 2 MiB).
    #[arg(long)]
    max_body: Option<usize>,
}

pub fn serve(args: &ServeArgs) -> Result<(), Error> {
    use percept::serve::{ServeConfig, Server};
    let checkpoint = Checkpoint::load(&args.checkpoint)?;
    let defaults = ServeConfig::default();
    let body_limit = args.max_body.unwrap_or(defaults.body_limit);
    let config = ServeConfig {
        workers: args.workers.unwrap_or(defaults.workers),
        body_limit,
        image_limits: percept::data::ImageLimits {
            max_file_bytes: body_limit as u64,
            ..defaults.image_limits
        },
        ..defaults
    };
    // Requests run in parallel, each on its own copy of the model; a forward pass of one
    // image is too small to split between threads.
    percept::set_threads(1)?;
    let server =
        Server::new(checkpoint, config).map_err(|e| format!("{}: {e}", args.checkpoint.display()))?;
    let running = server.spawn(&args.addr).map_err(|e| format!("{}: {e}", args.addr))?;
    println!("serving {} on {} (Ctrl-C to stop)", args.checkpoint.display(), running.url());
    std::io::Write::flush(&mut std::io::stdout())?;
    running.run_until_ctrl_c()?;
    println!("stopped");
    Ok(())
}
