package stream_test

import (
	"context"
	"fmt"
	"os"

	"stream/internal/stream"
)

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func Example_basicStreaming() {
	users := []user{{1, "ada"}, {2, "grace"}}
	streamer := stream.NewDefaultStreamer[user]()
	resp := streamer.Stream(context.Background(), stream.SliceFetcher(users), stream.PassThroughTransformer[user]())
	for chunk := range resp.ChunkChan {
		if chunk.Err != nil {
			fmt.Println("error:", chunk.Err)
			return
		}
		os.Stdout.Write(chunk.Data) // an HTTP handler writes and flushes here
		chunk.Release()
	}
	fmt.Println()
	fmt.Println(resp.Code)
	// Output:
	// [{"id":1,"name":"ada"},{"id":2,"name":"grace"}]
	// 200
}

func Example_customConfiguration() {
	config := stream.ChunkConfig{ChunkThreshold: 16} // other fields take the defaults
	streamer := stream.NewStreamer[int](config, nil)
	fetcher := stream.SliceBatchFetcher([]int{10, 20, 30, 40, 50, 60, 70}, streamer.GetConfig().BatchSize)
	resp := streamer.StreamBatch(context.Background(), fetcher, stream.PassThroughBatchTransformer[int]())
	for chunk := range resp.ChunkChan {
		fmt.Printf("%s\n", chunk.Data)
		chunk.Release()
	}
	fmt.Println(streamer.GetConfig().BufferSize, streamer.GetConfig().BatchSize)
	// Output:
	// [10,20,30,40,50,60
	// ,70]
	// 51200 1000
}
