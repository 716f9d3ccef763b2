// Package stream is a reconstruction, from its published summary, of the Go package
// chunkstream succeeds: a generic streamer that encodes items as one JSON array into
// pooled 50 KB buffers and hands the array out in chunks of about 32 KB.
//
// It exists only as chunkstream's same-machine reference: the lab measures it beside
// the Rust crate. Where the summary is silent the choice made here is the simple one,
// stated in a comment.
package stream

import (
	"context"
	"net/http"
)

const (
	// DefaultBufferSize is the capacity of a pooled buffer: 50 KB.
	DefaultBufferSize = 50 * 1024
	// DefaultChunkThreshold is the buffer length past which a chunk is sent: 32 KB.
	DefaultChunkThreshold = 32 * 1024
	// DefaultBatchSize is the number of items per batch: 1000.
	DefaultBatchSize = 1000
)

// ChunkConfig holds the streamer's sizes. Zero or negative fields take the defaults
// when Validate is called.
type ChunkConfig struct {
	// BufferSize is the initial capacity of a buffer, in bytes.
	BufferSize int
	// ChunkThreshold is the buffer length, in bytes, at which a chunk is sent.
	ChunkThreshold int
	// BatchSize is the number of items per batch for batch fetchers.
	BatchSize int
}

// DefaultChunkConfig returns the defaults: 50 KB buffers, 32 KB chunks, batches of 1000.
func DefaultChunkConfig() ChunkConfig {
	return ChunkConfig{
		BufferSize:     DefaultBufferSize,
		ChunkThreshold: DefaultChunkThreshold,
		BatchSize:      DefaultBatchSize,
	}
}

// Validate replaces every zero or negative field with its default and keeps the others.
func (c *ChunkConfig) Validate() {
	if c.BufferSize <= 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.ChunkThreshold <= 0 {
		c.ChunkThreshold = DefaultChunkThreshold
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
}

// StreamChunk is one piece of the response body, or the error that ended it.
//
// A stream that fails sends a chunk with Err set and stops: its array never gets
// its closing bracket, so a failed body never looks complete.
type StreamChunk struct {
	// Data is the chunk's bytes (nil on an error chunk).
	Data []byte
	// Err is the error that ended the stream, if any.
	Err error

	buf  *[]byte
	pool BufferPool
}

// Release returns the chunk's buffer to the pool it came from. Call it once the Data
// has been written; Data must not be used afterwards. Calling it is optional (an
// unreleased buffer is garbage collected) and calling it twice does nothing.
func (c *StreamChunk) Release() {
	if c.buf == nil || c.pool == nil {
		return
	}
	*c.buf = c.Data[:0]
	c.pool.Put(c.buf)
	c.buf, c.Data = nil, nil
}

// StreamResponse is what a handler hands to the response writer: the chunks, the total
// count when the caller knows it (the streamer does not: it leaves 0), and the HTTP code.
type StreamResponse struct {
	ChunkChan  <-chan StreamChunk
	TotalCount int64
	Code       int
}

// DataFetcher starts producing items. It closes both channels when done and sends at
// most one error; the error channel must be buffered so the fetcher never blocks on it.
type DataFetcher[T any] func(ctx context.Context) (<-chan T, <-chan error)

// Transformer turns one fetched item into the value that is encoded.
type Transformer[T any] func(item T) (interface{}, error)

// BatchFetcher is a DataFetcher producing batches of items.
type BatchFetcher[T any] func(ctx context.Context) (<-chan []T, <-chan error)

// BatchTransformer turns one fetched batch into the values that are encoded.
type BatchTransformer[T any] func(items []T) ([]interface{}, error)

// Streamer encodes what a fetcher produces as one JSON array, sent in chunks.
type Streamer[T any] interface {
	// Stream encodes items one at a time.
	Stream(ctx context.Context, fetcher DataFetcher[T], transformer Transformer[T]) StreamResponse
	// StreamBatch encodes items a batch at a time.
	StreamBatch(ctx context.Context, fetcher BatchFetcher[T], transformer BatchTransformer[T]) StreamResponse
	// GetConfig returns the validated configuration.
	GetConfig() ChunkConfig
}

// codeOK is the code of every response: streaming starts before any item is read, so
// a later error can only end the body, not change the status.
const codeOK = http.StatusOK
