// Shared by the build scripts of the crates whose binaries, tests and benches
// link libtorch: embed an rpath to libtorch's folder so that the programs run
// without LD_LIBRARY_PATH. The folder is found the way torch-sys finds it:
// `LIBTORCH`, or the `torch` package of the first `python3` on PATH when
// `LIBTORCH_USE_PYTORCH` is set.
fn torch_lib_dir() -> Option<std::path::PathBuf> {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(std::path::PathBuf::from(dir).join("lib"));
    }
    std::env::var("LIBTORCH_USE_PYTORCH").ok()?;
    let out = std::process::Command::new("python3")
        .args(["-c", "import os, torch; print(os.path.dirname(torch.__file__))"])
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    Some(std::path::PathBuf::from(dir.trim()).join("lib"))
}

fn emit_rpath() {
    if let Some(dir) = torch_lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
}
