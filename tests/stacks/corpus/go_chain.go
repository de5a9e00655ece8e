// go_chain: Go code (its own stack layout and unwind tables) on two goroutines:
// main.worker -> main.stageA -> main.stageB -> main.mix. Runs until killed; prints "ready <pid>".
package main

import (
	"fmt"
	"os"
)

var sink uint64

//go:noinline
func mix(x uint64, rounds int) uint64 {
	for i := 0; i < rounds; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

//go:noinline
func stageB(x uint64) uint64 { return mix(x, 50000) ^ 1 }

//go:noinline
func stageA(x uint64) uint64 { return stageB(x) + mix(x, 10000) }

//go:noinline
func worker(seed uint64, done chan uint64) {
	x := seed
	for i := 0; ; i++ {
		x = stageA(x)
		if i%1000 == 0 {
			sink = x
		}
	}
}

func main() {
	done := make(chan uint64)
	go worker(1, done)
	go worker(2, done)
	fmt.Printf("ready %d\n", os.Getpid())
	<-done
}
