package stream_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"stream/internal/stream"
	"stream/internal/workload"
)

// The lab's workloads: the tickets come from the file named by CHUNKSTREAM_GO_TICKETS
// when set (the lab writes its own tickets there), otherwise from the ported generator.
// A request is the first 100 tickets; the bulk stream is all of them (2,330 generated,
// about 1 MiB of JSON, the lab's request size).
const (
	requestTickets = 100
	bulkTickets    = 2330
)

var (
	ticketsOnce sync.Once
	tickets     []workload.Ticket
	ticketsErr  error
)

func loadTickets(b *testing.B) []workload.Ticket {
	ticketsOnce.Do(func() {
		var from string
		tickets, from, ticketsErr = workload.FromEnv(bulkTickets)
		if ticketsErr == nil {
			b.Logf("%d tickets from %s", len(tickets), from)
		}
	})
	if ticketsErr != nil {
		b.Fatal(ticketsErr)
	}
	return tickets
}

// unpooled is a BufferPool that allocates every buffer: what the pool saves.
type unpooled struct{}

func (unpooled) Get() *[]byte {
	buf := make([]byte, 0, stream.DefaultBufferSize)
	return &buf
}
func (unpooled) Put(*[]byte)         {}
func (unpooled) GetInitialSize() int { return stream.DefaultBufferSize }

// drain streams `items` once and returns the bytes sent.
func drain(b *testing.B, s stream.Streamer[workload.Ticket], items []workload.Ticket) int {
	resp := s.Stream(context.Background(), stream.SliceFetcher(items), stream.PassThroughTransformer[workload.Ticket]())
	n := 0
	for chunk := range resp.ChunkChan {
		if chunk.Err != nil {
			b.Fatal(chunk.Err)
		}
		n += len(chunk.Data)
		chunk.Release()
	}
	return n
}

// BenchmarkBufferPool_GetPut is the summary's "buffer pool overhead" (8.37 ns/op there).
func BenchmarkBufferPool_GetPut(b *testing.B) {
	pool := stream.DefaultBufferPool()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		pool.Put(pool.Get())
	}
}

var sink []byte

// BenchmarkFreshBuffer is what the pool replaces: a fresh 50 KB buffer per request.
func BenchmarkFreshBuffer(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sink = make([]byte, 0, stream.DefaultBufferSize)
	}
}

// BenchmarkRequest is one 100-ticket request (run with -benchmem): the summary's
// "54 KB with the pool, 111 KB without".
func BenchmarkRequest(b *testing.B) {
	items := loadTickets(b)
	if len(items) > requestTickets {
		items = items[:requestTickets]
	}
	for _, c := range []struct {
		name string
		pool stream.BufferPool
	}{
		{"pooled", stream.DefaultBufferPool()},
		{"unpooled", unpooled{}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := stream.NewStreamer[workload.Ticket](stream.DefaultChunkConfig(), c.pool)
			b.SetBytes(int64(drain(b, s, items)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				drain(b, s, items)
			}
		})
	}
}

// BenchmarkBulk streams all the tickets (MB/s).
func BenchmarkBulk(b *testing.B) {
	items := loadTickets(b)
	s := stream.NewDefaultStreamer[workload.Ticket]()
	b.SetBytes(int64(drain(b, s, items)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		drain(b, s, items)
	}
}

// BenchmarkLimit is Go's own ceiling for the bulk stream: json.Marshal of the slice.
func BenchmarkLimit(b *testing.B) {
	items := loadTickets(b)
	data, err := json.Marshal(items)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := json.Marshal(items); err != nil {
			b.Fatal(err)
		}
	}
}
