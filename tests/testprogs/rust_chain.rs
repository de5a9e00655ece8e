// rust_chain: a Rust release binary (no frame pointers, rustc's defaults) with a known chain
// main -> chain::driver -> chain::outer -> chain::leaf, where leaf is a frameless leaf.
//   rust_chain [SECONDS]      prints "ready <pid>"; runs until killed or SECONDS
use std::io::Write;
use std::time::{Duration, Instant};

mod chain {
    use std::time::Duration;

    static SEED: u64 = 1;
    #[inline(never)]
    pub fn leaf(mut x: u64, rounds: u32) -> u64 {
        for _ in 0..rounds {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        }
        x
    }

    #[inline(never)]
    pub fn outer(limit: Option<Duration>) -> u64 {
        let start = std::time::Instant::now();
        // A volatile read: the compiler cannot fold the loop away (black_box is not stable in 1.63).
        let mut x = unsafe { std::ptr::read_volatile(&SEED) };
        loop {
            x = leaf(x, 200_000);
            if let Some(l) = limit {
                if start.elapsed() >= l {
                    return x;
                }
            }
        }
    }

    #[inline(never)]
    pub fn driver(limit: Option<Duration>) -> u64 {
        let x = outer(limit);
        x.rotate_left(7) ^ 0x5bd1e995 // not a tail call: driver stays on the stack
    }
}

fn main() {
    let limit = std::env::args().nth(1).and_then(|s| s.parse::<f64>().ok()).map(Duration::from_secs_f64);
    println!("ready {}", std::process::id());
    std::io::stdout().flush().unwrap();
    let t = Instant::now();
    let x = chain::driver(limit);
    println!("done {} in {:?}", x, t.elapsed());
}
