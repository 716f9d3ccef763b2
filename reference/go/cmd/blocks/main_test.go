package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"stream/internal/workload"
)

func TestServeAnswersOneLinePerCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab tickets.json")
	tickets := workload.Generate(300)
	data, _ := json.Marshal(tickets)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	script := strings.Join([]string{
		"version", "bulk 1", "load " + path, "bulk 3", "limit 2", "pool 1000",
		"alloc 100", "bogus", "bulk 0", "", "quit", "version",
	}, "\n") + "\n"
	var out strings.Builder
	if err := serve(strings.NewReader(script), &out); err != nil {
		t.Fatal(err)
	}
	answers := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{"ok go", "err no tickets loaded", "ok 300 ", "ok ", "ok ", "ok ", "ok ", "err unknown", "err count", "ok bye"}
	if len(answers) != len(want) {
		t.Fatalf("answers %q", answers)
	}
	for i, prefix := range want {
		if !strings.HasPrefix(answers[i], prefix) {
			t.Fatalf("answer %d %q, want prefix %q", i, answers[i], prefix)
		}
	}
	size := len(data)
	if got := strings.Fields(answers[2])[2]; got != strconv.Itoa(size) {
		t.Fatalf("load bytes %s, want %d", got, size)
	}
	for i, repeats := range map[int]int{3: 3, 4: 2} {
		fields := strings.Fields(answers[i])
		bytes, _ := strconv.Atoi(fields[1])
		seconds, err := strconv.ParseFloat(fields[2], 64)
		if bytes != repeats*size || err != nil || seconds <= 0 {
			t.Fatalf("answer %q: want %d bytes and positive seconds", answers[i], repeats*size)
		}
	}
	for _, i := range []int{5, 6} {
		ns, err := strconv.ParseFloat(strings.Fields(answers[i])[1], 64)
		if err != nil || ns <= 0 {
			t.Fatalf("answer %q", answers[i])
		}
	}
}
