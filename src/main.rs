use clap::Parser;

fn main() {
    let cli = tentacle::cli::Cli::parse();
    std::process::exit(tentacle::cli::main(cli));
}
