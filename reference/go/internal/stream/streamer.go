package stream

import (
	"context"
	"encoding/json"
)

// streamer is the package's Streamer: one goroutine per response encodes the items
// into pooled buffers and sends a chunk each time a buffer passes the threshold.
type streamer[T any] struct {
	config ChunkConfig
	pool   BufferPool
}

// NewStreamer returns a Streamer with `config` (validated: zero fields take the
// defaults) and `pool` (a new pool of config.BufferSize buffers when nil).
func NewStreamer[T any](config ChunkConfig, pool BufferPool) Streamer[T] {
	config.Validate()
	if pool == nil {
		pool = NewBufferPool(config.BufferSize)
	}
	return &streamer[T]{config: config, pool: pool}
}

// NewDefaultStreamer returns a Streamer with the default configuration and the
// package's shared buffer pool.
func NewDefaultStreamer[T any]() Streamer[T] {
	return NewStreamer[T](DefaultChunkConfig(), defaultPool)
}

func (s *streamer[T]) GetConfig() ChunkConfig { return s.config }

func (s *streamer[T]) Stream(ctx context.Context, fetcher DataFetcher[T], transformer Transformer[T]) StreamResponse {
	return s.start(ctx, func(ctx context.Context, enc *chunker) error {
		items, errs := fetcher(ctx)
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case item, ok := <-items:
				if !ok {
					return <-errs
				}
				value, err := transformer(item)
				if err != nil {
					return err
				}
				if err := enc.add(value); err != nil {
					return err
				}
			}
		}
	})
}

func (s *streamer[T]) StreamBatch(ctx context.Context, fetcher BatchFetcher[T], transformer BatchTransformer[T]) StreamResponse {
	return s.start(ctx, func(ctx context.Context, enc *chunker) error {
		batches, errs := fetcher(ctx)
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case batch, ok := <-batches:
				if !ok {
					return <-errs
				}
				values, err := transformer(batch)
				if err != nil {
					return err
				}
				for _, value := range values {
					if err := enc.add(value); err != nil {
						return err
					}
				}
			}
		}
	})
}

// start runs `produce` on its own goroutine between the array's brackets and returns
// the response at once. The fetcher gets a context that is cancelled when streaming
// stops for any reason, so its goroutine always ends.
func (s *streamer[T]) start(ctx context.Context, produce func(context.Context, *chunker) error) StreamResponse {
	out := make(chan StreamChunk)
	go func() {
		defer close(out)
		inner, cancel := context.WithCancel(ctx)
		defer cancel()
		enc := &chunker{ctx: ctx, out: out, pool: s.pool, threshold: s.config.ChunkThreshold}
		enc.buf = s.pool.Get()
		*enc.buf = append(*enc.buf, '[')
		err := produce(inner, enc)
		if err == nil {
			*enc.buf = append(*enc.buf, ']')
			err = enc.send(false)
		}
		if err != nil {
			enc.fail(err)
		}
	}()
	return StreamResponse{ChunkChan: out, Code: codeOK}
}

// chunker appends encoded items to the current pooled buffer and sends the buffer as
// a chunk once its length reaches the threshold.
type chunker struct {
	ctx       context.Context
	out       chan<- StreamChunk
	pool      BufferPool
	threshold int
	buf       *[]byte
	items     int
}

// add encodes one value (encoding/json, one Marshal per item) after a comma when it is
// not the first, and sends a chunk when the buffer has reached the threshold.
func (c *chunker) add(value interface{}) error {
	data, err := json.Marshal(value)
	if err != nil {
		return err
	}
	b := *c.buf
	if c.items > 0 {
		b = append(b, ',')
	}
	b = append(b, data...)
	*c.buf = b
	c.items++
	if len(b) >= c.threshold {
		return c.send(true)
	}
	return nil
}

// send hands the current buffer to the consumer and, when more is to come, takes a
// fresh one from the pool.
func (c *chunker) send(more bool) error {
	chunk := StreamChunk{Data: *c.buf, buf: c.buf, pool: c.pool}
	select {
	case c.out <- chunk:
		c.buf = nil
		if more {
			c.buf = c.pool.Get()
		}
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// fail returns the unsent buffer to the pool and sends the error as the last chunk.
// After a cancellation the consumer may be gone, so the error is then sent only if
// the consumer is already waiting for it.
func (c *chunker) fail(err error) {
	if c.buf != nil {
		c.pool.Put(c.buf)
		c.buf = nil
	}
	chunk := StreamChunk{Err: err}
	if c.ctx.Err() != nil {
		select {
		case c.out <- chunk:
		default:
		}
		return
	}
	select {
	case c.out <- chunk:
	case <-c.ctx.Done():
	}
}
