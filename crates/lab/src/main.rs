//! The chunkstream lab (filled by the lab issue).

fn main() {
    println!("chunkstream-lab: not yet implemented");
}
