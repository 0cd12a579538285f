include!("../../build-support/torch_rpath.rs");

/// Compiles the autocast shim (`cpp/autocast.cpp`) against the headers of
/// the libtorch that torch-sys links (its `libtorch_lib`, passed on as
/// `DEP_TCH_LIBTORCH_LIB`), with torch-sys's compiler flags. The C++ ABI
/// comes from `LIBTORCH_CXX11_ABI` (default 1, as in PyTorch's wheels);
/// the shim passes only bools across, so nothing in it depends on the ABI.
fn compile_autocast_shim() {
    println!("cargo:rerun-if-changed=cpp/autocast.cpp");
    let lib = std::path::PathBuf::from(std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys passes libtorch_lib"));
    let include = lib.parent().expect("libtorch's lib folder has a parent").join("include");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .file("cpp/autocast.cpp")
        .compile("honeyimage_autocast");
}

fn main() {
    emit_rpath();
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        compile_autocast_shim();
    }
}
