use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = tentacle::cli::Cli::parse();
    std::process::exit(tentacle::cli::main(cli));
}
