package stream

import "context"

// The summary's SQL helpers (SQLFetcher, SQLBatchFetcher, ScanBatch) are left out: the
// lab measures slices, and a SQL driver is not in the standard library.
//
// The summary shows only the error channel buffered ("buffered to prevent leak"), so
// the data channels here are unbuffered.

// SliceFetcher returns a fetcher sending each element of `items` in order.
func SliceFetcher[T any](items []T) DataFetcher[T] {
	return func(ctx context.Context) (<-chan T, <-chan error) {
		out := make(chan T)
		errs := make(chan error, 1)
		go func() {
			defer close(out)
			defer close(errs)
			for _, item := range items {
				select {
				case out <- item:
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			}
		}()
		return out, errs
	}
}

// SliceBatchFetcher returns a fetcher sending `items` in sub-slices of `batchSize`
// elements (DefaultBatchSize when zero or negative); the last may be shorter. The
// batches share `items`' memory.
func SliceBatchFetcher[T any](items []T, batchSize int) BatchFetcher[T] {
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	return func(ctx context.Context) (<-chan []T, <-chan error) {
		out := make(chan []T)
		errs := make(chan error, 1)
		go func() {
			defer close(out)
			defer close(errs)
			for start := 0; start < len(items); start += batchSize {
				end := start + batchSize
				if end > len(items) {
					end = len(items)
				}
				select {
				case out <- items[start:end]:
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			}
		}()
		return out, errs
	}
}

// PassThroughTransformer returns a transformer that encodes each item as it is.
func PassThroughTransformer[T any]() Transformer[T] {
	return func(item T) (interface{}, error) { return item, nil }
}

// PassThroughBatchTransformer returns a batch transformer that encodes each item as it is.
func PassThroughBatchTransformer[T any]() BatchTransformer[T] {
	return func(items []T) ([]interface{}, error) {
		values := make([]interface{}, len(items))
		for i, item := range items {
			values[i] = item
		}
		return values, nil
	}
}
