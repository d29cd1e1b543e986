use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = hornet::cli::Cli::parse();
    hornet::telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(hornet::cli::EXIT_BAD_INPUT as u8);
        }
    };
    let code = runtime.block_on(hornet::cli::run(cli));
    // Users still finishing (killed on abort) must not hold the process open.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
