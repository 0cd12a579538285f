include!("../../build-support/torch_rpath.rs");

fn main() {
    emit_rpath();
}
