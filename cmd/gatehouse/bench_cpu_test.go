package main

import (
	"os"
	"testing"
	"time"
)

// Given two samples of the processes' CPU, when one process ended between
// them and another started, then the one that ended counts nothing (not
// minus what it had spent), the new one counts all it spent, and the rest
// count their difference, each for whoever spent it.
func TestCPUBetweenSamples(t *testing.T) {
	before := cpuSample{ok: true, procs: map[int]procSpent{
		1: {2.0, spentByClient}, 2: {5.0, spentByServer}, 10: {3.0, spentByPGCommands}, 11: {1.0, spentByPGSubscribers},
	}}
	after := cpuSample{ok: true, procs: map[int]procSpent{
		1: {2.5, spentByClient}, 2: {6.0, spentByServer}, 11: {1.25, spentByPGSubscribers}, 12: {0.5, spentByPGCommands}, 13: {0.125, spentByPGOther},
	}}
	got := after.sub(before)
	want := cpuTimes{client: 0.5, server: 1.0, pgCommands: 0.5, pgSubscribers: 0.25, pgOther: 0.125, ok: true}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if after.sub(cpuSample{}).ok {
		t.Fatal("a difference with a sample that saw nothing is reported as measured")
	}
}

// The process's own CPU is read from /proc, and grows as it works.
func TestProcCPUGrows(t *testing.T) {
	first, ok := procCPU(os.Getpid())
	if !ok {
		t.Skip("no /proc here")
	}
	x := 0
	deadline := time.Now().Add(10 * time.Second)
	for second := first; second < first+0.05; second, _ = procCPU(os.Getpid()) {
		if time.Now().After(deadline) {
			t.Fatalf("10 s of work, and /proc says %.2f s of CPU after %.2f s", second, first)
		}
		for i := range 1_000_000 {
			x += i
		}
	}
	_ = x
}
