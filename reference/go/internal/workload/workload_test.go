package workload

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestGenerateIsDeterministicAndSized(t *testing.T) {
	a, b := Generate(50), Generate(50)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two generations differ")
	}
	if a[0].ID != 1 || a[49].ID != 50 {
		t.Fatalf("ids %d..%d, want 1..50", a[0].ID, a[49].ID)
	}
	data, err := json.Marshal(Generate(500))
	if err != nil {
		t.Fatal(err)
	}
	if mean := len(data) / 500; mean < 380 || mean > 520 {
		t.Fatalf("mean ticket %d B, want 380..520 as the lab's", mean)
	}
}

func TestLoadRoundTripsAndRejectsUnknownFields(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tickets.json")
	want := Generate(20)
	data, _ := json.Marshal(want)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("loaded tickets differ from the written ones")
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"id":1,"severity":"x"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil {
		t.Fatal("a ticket with an unknown field loaded")
	}
}

// TestGenerateMatchesLabFile checks the port of the generator and the Ticket struct
// against tickets the lab wrote (the Rust side runs it with CHUNKSTREAM_GO_TICKETS set).
func TestGenerateMatchesLabFile(t *testing.T) {
	path := os.Getenv(EnvTickets)
	if path == "" {
		t.Skip(EnvTickets + " not set: no lab-written tickets to compare with")
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	generated := Generate(len(loaded))
	for i := range loaded {
		if !reflect.DeepEqual(loaded[i], generated[i]) {
			t.Fatalf("ticket %d: lab %+v, generated %+v", i+1, loaded[i], generated[i])
		}
	}
}
