// Command blocks serves timed blocks of the Go reference to the chunkstream lab, so the
// lab can alternate Go blocks with its own and pair them under the same noise.
//
// It reads one command per line on stdin and answers exactly one line on stdout:
// "ok ..." or "err <message>". Times are measured inside Go (time.Now around the
// block), so the pipe is not counted.
//
//	version             ok <runtime.Version()>
//	load <path>         ok <tickets> <bytes of json.Marshal of all of them>  (the path is
//	                    the rest of the line, spaces included)
//	bulk <repeats>      ok <bytes> <seconds>  the streamer over the loaded tickets,
//	                                          `repeats` times, chunks drained and released
//	limit <repeats>     ok <bytes> <seconds>  json.Marshal of the whole slice, `repeats` times
//	pool <iterations>   ok <ns per op>        Get+Put on the package's sync.Pool of 50 KB buffers
//	alloc <iterations>  ok <ns per op>        a fresh make([]byte, 0, 50*1024) that escapes
//	quit                ok bye, then exit 0 (end of input also exits 0)
//
// bulk and limit answer "err no tickets loaded" before a successful load.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"stream/internal/stream"
	"stream/internal/workload"
)

func main() {
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "blocks:", err)
		os.Exit(1)
	}
}

// server holds the loaded tickets between commands.
type server struct {
	tickets []workload.Ticket
}

// serve answers the commands read from `in` on `out` until quit or end of input.
func serve(in io.Reader, out io.Writer) error {
	s := &server{}
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 0, 64*1024), 1<<20)
	w := bufio.NewWriter(out)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		answer, err := s.run(fields[0], fields[1:], strings.TrimSpace(strings.TrimPrefix(line, fields[0])))
		if err != nil {
			answer = "err " + strings.ReplaceAll(err.Error(), "\n", " ")
		} else {
			answer = "ok " + answer
		}
		if _, err := fmt.Fprintln(w, answer); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if fields[0] == "quit" {
			return nil
		}
	}
	return lines.Err()
}

// run executes one command and returns its answer without the "ok " prefix. `rest` is
// the line after the command, so a path may contain spaces.
func (s *server) run(command string, args []string, rest string) (string, error) {
	switch command {
	case "version":
		return runtime.Version(), nil
	case "quit":
		return "bye", nil
	case "load":
		if rest == "" {
			return "", errors.New("usage: load <path>")
		}
		tickets, err := workload.Load(rest)
		if err != nil {
			return "", err
		}
		data, err := json.Marshal(tickets)
		if err != nil {
			return "", err
		}
		s.tickets = tickets
		return fmt.Sprintf("%d %d", len(tickets), len(data)), nil
	case "bulk", "limit":
		n, err := count(args)
		if err != nil {
			return "", err
		}
		if s.tickets == nil {
			return "", errors.New("no tickets loaded")
		}
		block := s.bulk
		if command == "limit" {
			block = s.limit
		}
		start := time.Now()
		bytes, err := block(n)
		seconds := time.Since(start).Seconds()
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d %.9f", bytes, seconds), nil
	case "pool", "alloc":
		n, err := count(args)
		if err != nil {
			return "", err
		}
		block := poolBlock
		if command == "alloc" {
			block = allocBlock
		}
		return fmt.Sprintf("%.3f", block(n)), nil
	default:
		return "", fmt.Errorf("unknown command %q", command)
	}
}

// count parses the one positive count a block takes.
func count(args []string) (int, error) {
	if len(args) != 1 {
		return 0, errors.New("usage: <command> <count>")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("count %q is not a positive integer", args[0])
	}
	return n, nil
}

// bulk streams the loaded tickets `repeats` times, draining and releasing every chunk.
func (s *server) bulk(repeats int) (int64, error) {
	streamer := stream.NewDefaultStreamer[workload.Ticket]()
	ctx := context.Background()
	var total int64
	for i := 0; i < repeats; i++ {
		resp := streamer.Stream(ctx, stream.SliceFetcher(s.tickets), stream.PassThroughTransformer[workload.Ticket]())
		for chunk := range resp.ChunkChan {
			if chunk.Err != nil {
				return 0, chunk.Err
			}
			total += int64(len(chunk.Data))
			chunk.Release()
		}
	}
	return total, nil
}

// limit encodes the whole slice at once, `repeats` times: Go's own ceiling.
func (s *server) limit(repeats int) (int64, error) {
	var total int64
	for i := 0; i < repeats; i++ {
		data, err := json.Marshal(s.tickets)
		if err != nil {
			return 0, err
		}
		total += int64(len(data))
	}
	return total, nil
}

// poolBlock times Get+Put on the package's shared pool, in ns per pair.
func poolBlock(iterations int) float64 {
	pool := stream.DefaultBufferPool()
	pool.Put(pool.Get())
	start := time.Now()
	for i := 0; i < iterations; i++ {
		pool.Put(pool.Get())
	}
	return float64(time.Since(start).Nanoseconds()) / float64(iterations)
}

// sink makes each allocation escape, so the compiler cannot put it on the stack.
var sink []byte

// allocBlock times what the pool replaces: a fresh 50 KB buffer, in ns per buffer.
func allocBlock(iterations int) float64 {
	start := time.Now()
	for i := 0; i < iterations; i++ {
		sink = make([]byte, 0, stream.DefaultBufferSize)
	}
	elapsed := time.Since(start)
	sink = nil
	return float64(elapsed.Nanoseconds()) / float64(iterations)
}
