package stream

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

type item struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func items(n int) []item {
	out := make([]item, n)
	for i := range out {
		out[i] = item{ID: i, Name: "item \"quoted\" café\n" + string(rune('a'+i%26))}
	}
	return out
}

// collect drains a response: the body, the chunk sizes and the error chunk, if any.
func collect(t *testing.T, resp StreamResponse) ([]byte, []int, error) {
	t.Helper()
	var body []byte
	var sizes []int
	var err error
	for chunk := range resp.ChunkChan {
		if chunk.Err != nil {
			if err != nil {
				t.Fatalf("a second error chunk: %v", chunk.Err)
			}
			err = chunk.Err
			continue
		}
		if err != nil {
			t.Fatal("a data chunk after the error chunk")
		}
		body = append(body, chunk.Data...)
		sizes = append(sizes, len(chunk.Data))
		chunk.Release()
	}
	return body, sizes, err
}

func TestStreamer_Stream(t *testing.T) {
	t.Run("streams items as one JSON array in chunks past the threshold", func(t *testing.T) {
		want := items(5000)
		s := NewDefaultStreamer[item]()
		resp := s.Stream(context.Background(), SliceFetcher(want), PassThroughTransformer[item]())
		if resp.Code != 200 {
			t.Fatalf("code %d", resp.Code)
		}
		body, sizes, err := collect(t, resp)
		if err != nil {
			t.Fatal(err)
		}
		var got []item
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body is not a JSON array: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatal("items differ")
		}
		reference, _ := json.Marshal(want)
		if string(body) != string(reference) {
			t.Fatal("body differs from json.Marshal of the slice")
		}
		if len(sizes) < 2 {
			t.Fatalf("%d chunks for %d bytes", len(sizes), len(body))
		}
		for i, size := range sizes[:len(sizes)-1] {
			if size < DefaultChunkThreshold {
				t.Fatalf("chunk %d has %d bytes, under the threshold", i, size)
			}
		}
	})

	t.Run("handles empty data", func(t *testing.T) {
		s := NewDefaultStreamer[item]()
		body, sizes, err := collect(t, s.Stream(context.Background(), SliceFetcher[item](nil), PassThroughTransformer[item]()))
		if err != nil || string(body) != "[]" || len(sizes) != 1 {
			t.Fatalf("body %q in %d chunks, err %v", body, len(sizes), err)
		}
	})

	t.Run("handles fetcher error", func(t *testing.T) {
		boom := errors.New("boom")
		fetcher := func(ctx context.Context) (<-chan item, <-chan error) {
			out := make(chan item)
			errs := make(chan error, 1)
			go func() {
				defer close(out)
				defer close(errs)
				for _, it := range items(3) {
					out <- it
				}
				errs <- boom
			}()
			return out, errs
		}
		body, _, err := collect(t, NewDefaultStreamer[item]().Stream(context.Background(), fetcher, PassThroughTransformer[item]()))
		if !errors.Is(err, boom) {
			t.Fatalf("err %v, want boom", err)
		}
		if len(body) != 0 {
			t.Fatalf("%d bytes sent before the error although under the threshold", len(body))
		}
	})

	t.Run("handles transformer error after chunks were sent, without closing the array", func(t *testing.T) {
		boom := errors.New("bad item")
		transformer := func(it item) (interface{}, error) {
			if it.ID == 2000 {
				return nil, boom
			}
			return it, nil
		}
		body, sizes, err := collect(t, NewDefaultStreamer[item]().Stream(context.Background(), SliceFetcher(items(5000)), transformer))
		if !errors.Is(err, boom) {
			t.Fatalf("err %v, want the transformer's", err)
		}
		if len(sizes) == 0 || body[0] != '[' || body[len(body)-1] == ']' {
			t.Fatalf("body of %d chunks ends %q", len(sizes), body[len(body)-1:])
		}
	})

	t.Run("handles an item encoding/json cannot encode", func(t *testing.T) {
		transformer := func(it item) (interface{}, error) { return func() {}, nil }
		_, _, err := collect(t, NewDefaultStreamer[item]().Stream(context.Background(), SliceFetcher(items(3)), transformer))
		var unsupported *json.UnsupportedTypeError
		if !errors.As(err, &unsupported) {
			t.Fatalf("err %v, want json's UnsupportedTypeError", err)
		}
	})

	t.Run("respects context cancellation", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		fetched := make(chan struct{})
		fetcher := func(ctx context.Context) (<-chan item, <-chan error) {
			inner, errs := SliceFetcher(items(1_000_000))(ctx)
			go func() { <-ctx.Done(); close(fetched) }()
			return inner, errs
		}
		resp := NewDefaultStreamer[item]().Stream(ctx, fetcher, PassThroughTransformer[item]())
		first, ok := <-resp.ChunkChan
		if !ok || first.Err != nil {
			t.Fatalf("first chunk %v %v", ok, first.Err)
		}
		cancel()
		var last []byte
		for chunk := range resp.ChunkChan {
			if chunk.Err != nil && !errors.Is(chunk.Err, context.Canceled) {
				t.Fatalf("err %v", chunk.Err)
			}
			if chunk.Data != nil {
				last = chunk.Data
			}
		}
		if len(last) > 0 && last[len(last)-1] == ']' {
			t.Fatal("a cancelled stream closed its array")
		}
		select {
		case <-fetched:
		case <-time.After(5 * time.Second):
			t.Fatal("the fetcher's context was not cancelled")
		}
	})
}

func TestStreamer_StreamBatch(t *testing.T) {
	t.Run("streams batches successfully", func(t *testing.T) {
		want := items(2500)
		s := NewDefaultStreamer[item]()
		fetcher := SliceBatchFetcher(want, s.GetConfig().BatchSize)
		body, _, err := collect(t, s.StreamBatch(context.Background(), fetcher, PassThroughBatchTransformer[item]()))
		if err != nil {
			t.Fatal(err)
		}
		reference, _ := json.Marshal(want)
		if string(body) != string(reference) {
			t.Fatal("body differs from json.Marshal of the slice")
		}
	})

	t.Run("handles batch transformer error", func(t *testing.T) {
		boom := errors.New("bad batch")
		transformer := func([]item) ([]interface{}, error) { return nil, boom }
		_, _, err := collect(t, NewDefaultStreamer[item]().StreamBatch(context.Background(), SliceBatchFetcher(items(10), 3), transformer))
		if !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestBufferPool(t *testing.T) {
	t.Run("creates pool with correct size", func(t *testing.T) {
		p := NewBufferPool(4096)
		if p.GetInitialSize() != 4096 || cap(*p.Get()) < 4096 {
			t.Fatal("wrong size")
		}
	})
	t.Run("gets and puts buffers", func(t *testing.T) {
		p := NewBufferPool(1024)
		b := p.Get()
		*b = append(*b, "hello"...)
		p.Put(b)
		again := p.Get()
		if len(*again) != 0 || cap(*again) < 1024 {
			t.Fatalf("len %d cap %d", len(*again), cap(*again))
		}
	})
	t.Run("handles nil put gracefully", func(t *testing.T) {
		NewBufferPool(1024).Put(nil)
	})
	t.Run("uses default size for invalid size", func(t *testing.T) {
		if got := NewBufferPool(-1).GetInitialSize(); got != DefaultBufferSize {
			t.Fatalf("size %d", got)
		}
	})
}

func TestChunkConfig(t *testing.T) {
	t.Run("validates and applies defaults", func(t *testing.T) {
		c := ChunkConfig{}
		c.Validate()
		if c != DefaultChunkConfig() || c.BufferSize != 50*1024 || c.ChunkThreshold != 32*1024 || c.BatchSize != 1000 {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("preserves valid values", func(t *testing.T) {
		c := ChunkConfig{BufferSize: 1, ChunkThreshold: 2, BatchSize: 3}
		c.Validate()
		if c != (ChunkConfig{1, 2, 3}) {
			t.Fatalf("%+v", c)
		}
	})
}

func TestSliceFetcher(t *testing.T) {
	ch, errs := SliceFetcher([]int{1, 2, 3})(context.Background())
	var got []int
	for v := range ch {
		got = append(got, v)
	}
	if !reflect.DeepEqual(got, []int{1, 2, 3}) || <-errs != nil {
		t.Fatal(got)
	}
}

func TestSliceBatchFetcher(t *testing.T) {
	ch, errs := SliceBatchFetcher([]int{1, 2, 3, 4, 5}, 2)(context.Background())
	var got [][]int
	for v := range ch {
		got = append(got, v)
	}
	if !reflect.DeepEqual(got, [][]int{{1, 2}, {3, 4}, {5}}) || <-errs != nil {
		t.Fatal(got)
	}
}

func TestPassThroughTransformer(t *testing.T) {
	v, err := PassThroughTransformer[int]()(7)
	if v != 7 || err != nil {
		t.Fatal(v, err)
	}
}

func TestStreamChunk_ReleaseReturnsTheBufferOnce(t *testing.T) {
	p := NewBufferPool(64)
	buf := p.Get()
	*buf = append(*buf, "x"...)
	chunk := StreamChunk{Data: *buf, buf: buf, pool: p}
	chunk.Release()
	chunk.Release()
	if chunk.Data != nil {
		t.Fatal("Data kept after Release")
	}
}

// countingPool counts the buffers handed out and not yet returned.
// (Get runs on the streamer's goroutine, Put on the consumer's.)
type countingPool struct {
	BufferPool
	out int64
}

func (p *countingPool) Get() *[]byte { atomic.AddInt64(&p.out, 1); return p.BufferPool.Get() }
func (p *countingPool) Put(buf *[]byte) {
	if buf != nil {
		atomic.AddInt64(&p.out, -1)
	}
	p.BufferPool.Put(buf)
}

func TestStreamer_ReturnsEveryBufferOnceChunksAreReleased(t *testing.T) {
	for _, n := range []int{0, 10, 100, 5000} {
		pool := &countingPool{BufferPool: NewBufferPool(DefaultBufferSize)}
		s := NewStreamer[item](ChunkConfig{}, pool)
		if _, _, err := collect(t, s.Stream(context.Background(), SliceFetcher(items(n)), PassThroughTransformer[item]())); err != nil {
			t.Fatal(err)
		}
		if atomic.LoadInt64(&pool.out) != 0 {
			t.Fatalf("%d items: %d buffers never returned", n, pool.out)
		}
	}
	pool := &countingPool{BufferPool: NewBufferPool(DefaultBufferSize)}
	boom := errors.New("boom")
	failing := func(it item) (interface{}, error) {
		if it.ID == 3000 {
			return nil, boom
		}
		return it, nil
	}
	s := NewStreamer[item](ChunkConfig{}, pool)
	if _, _, err := collect(t, s.Stream(context.Background(), SliceFetcher(items(5000)), failing)); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if atomic.LoadInt64(&pool.out) != 0 {
		t.Fatalf("failed stream: %d buffers never returned", pool.out)
	}
}
