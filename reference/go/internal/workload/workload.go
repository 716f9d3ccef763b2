// Package workload holds the lab's tickets workload on the Go side: the Ticket row
// (the same fields, names and types as benches/src/workload.rs), a loader for the JSON
// array the lab writes, and a port of the lab's seeded generator for runs by hand.
package workload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// EnvTickets names the environment variable holding the path of a tickets JSON array;
// the benchmarks load it when set (the lab sets it so both sides encode the same items).
const EnvTickets = "CHUNKSTREAM_GO_TICKETS"

// Seed is the lab's workload seed (workload::SEED).
const Seed uint64 = 0x00c0_ffee_5eed

// Ticket is a row of the original service's tickets table: ~400-500 bytes of JSON.
type Ticket struct {
	ID            int64   `json:"id"`
	ProjectID     int64   `json:"project_id"`
	Title         string  `json:"title"`
	Description   string  `json:"description"`
	Status        string  `json:"status"`
	Priority      string  `json:"priority"`
	Assignee      string  `json:"assignee"`
	Reporter      string  `json:"reporter"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
	EstimateHours float64 `json:"estimate_hours"`
	Labels        string  `json:"labels"`
}

// Load reads a JSON array of tickets from `path`.
func Load(path string) ([]Ticket, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Unknown fields are an error: the Ticket here must mirror the lab's exactly.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var tickets []Ticket
	if err := dec.Decode(&tickets); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tickets, nil
}

// FromEnv loads the tickets named by EnvTickets, or generates `n` when it is unset.
// It returns where the tickets came from.
func FromEnv(n int) ([]Ticket, string, error) {
	if path := os.Getenv(EnvTickets); path != "" {
		tickets, err := Load(path)
		return tickets, path, err
	}
	return Generate(n), "generated", nil
}

// Generate returns `n` tickets with ids 1..=n, as workload::tickets(n) does.
func Generate(n int) []Ticket {
	tickets := make([]Ticket, n)
	for i := range tickets {
		tickets[i] = GenerateTicket(Seed, int64(i+1))
	}
	return tickets
}

// GenerateTicket is the port of Ticket::generate: the same seed and id give the same
// ticket as on the Rust side.
func GenerateTicket(seed uint64, id int64) Ticket {
	r := rng(seed ^ uint64(id)*0x2545_f491_4f6c_dd1d)
	day := 1 + r.below(28)
	hour := r.below(24)
	titleWords := 4 + int(r.below(5))
	descriptionWords := 20 + int(r.below(14))
	t := Ticket{ID: id}
	t.ProjectID = 1 + int64(r.below(40))
	t.Title = r.words(titleWords)
	t.Description = r.words(descriptionWords)
	t.Status = r.pick(statuses)
	t.Priority = r.pick(priorities)
	t.Assignee = r.pick(people)
	t.Reporter = r.pick(people)
	t.CreatedAt = fmt.Sprintf("2024-03-%02dT%02d:15:00Z", day, hour)
	t.UpdatedAt = fmt.Sprintf("2024-04-%02dT%02d:45:30Z", day, hour)
	t.EstimateHours = float64(r.below(400)) / 8.0
	word := r.pick(words)
	t.Labels = word + "," + r.pick(priorities)
	return t
}

// rng is SplitMix64, as workload::Rng.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e37_79b9_7f4a_7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58_476d_1ce4_e5b9
	z = (z ^ (z >> 27)) * 0x94d0_49bb_1331_11eb
	return z ^ (z >> 31)
}

func (r *rng) below(n uint64) uint64 { return r.next() % n }

func (r *rng) pick(items []string) string { return items[r.below(uint64(len(items)))] }

func (r *rng) words(n int) string {
	out := make([]byte, 0, n*8)
	for i := 0; i < n; i++ {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, r.pick(words)...)
	}
	return string(out)
}

var words = []string{
	"login", "fails", "after", "update", "the", "dashboard", "shows", "stale", "data",
	"when", "export", "times", "out", "for", "large", "reports", "user", "cannot",
	"reset", "password", "\"quoted\"", "café", "naïve", "日本", "tab\there",
	"line\nbreak", "API", "returns", "500", "on", "empty", "filter", "slow", "query",
	"in", "search", "index",
}

var (
	statuses   = []string{"open", "in_progress", "blocked", "review", "closed"}
	priorities = []string{"low", "medium", "high", "urgent"}
	people     = []string{
		"alice@example.com", "bob@example.com", "carol@example.com",
		"dave@example.com", "erin@example.com",
	}
)
