package stream

import "sync"

// BufferPool hands out byte buffers of a fixed initial capacity and takes them back.
type BufferPool interface {
	// Get returns an empty buffer with at least GetInitialSize bytes of capacity.
	Get() *[]byte
	// Put returns a buffer for reuse; nil is ignored.
	Put(buf *[]byte)
	// GetInitialSize returns the capacity of new buffers, in bytes.
	GetInitialSize() int
}

// syncBufferPool is a BufferPool on sync.Pool (pointers to slices, so Put does not
// allocate an interface box for the slice header).
type syncBufferPool struct {
	pool sync.Pool
	size int
}

// NewBufferPool returns a sync.Pool of buffers of `size` bytes (DefaultBufferSize when
// size is zero or negative).
func NewBufferPool(size int) BufferPool {
	if size <= 0 {
		size = DefaultBufferSize
	}
	p := &syncBufferPool{size: size}
	p.pool.New = func() interface{} {
		buf := make([]byte, 0, size)
		return &buf
	}
	return p
}

func (p *syncBufferPool) Get() *[]byte {
	buf := p.pool.Get().(*[]byte)
	*buf = (*buf)[:0]
	return buf
}

func (p *syncBufferPool) Put(buf *[]byte) {
	if buf == nil {
		return
	}
	*buf = (*buf)[:0]
	p.pool.Put(buf)
}

func (p *syncBufferPool) GetInitialSize() int { return p.size }

// defaultPool is the package's shared pool, used by NewDefaultStreamer.
var defaultPool = NewBufferPool(DefaultBufferSize)

// DefaultBufferPool returns the package's shared pool of DefaultBufferSize buffers.
func DefaultBufferPool() BufferPool { return defaultPool }

// GetBuffer takes a buffer from the shared pool.
func GetBuffer() *[]byte { return defaultPool.Get() }

// PutBuffer returns a buffer to the shared pool.
func PutBuffer(buf *[]byte) { defaultPool.Put(buf) }
