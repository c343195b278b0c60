package gopool_test

import (
	"context"
	"errors"
	"fmt"

	gopool "github.com/rubengp99/go-pool"
)

// Map runs a function over a slice on a shared pool, at most two inputs at
// a time, and returns the outputs in input order. When some inputs fail,
// the others' outputs are still there, and the failed slots hold zero.
func ExampleMap() {
	shared := gopool.NewPool().WithLimit(2)

	words := []string{"gopher", "pool", "map", "limit"}
	lengths, err := gopool.Map(shared, words, func(_ context.Context, w string) (int, error) {
		return len(w), nil
	})
	fmt.Println(lengths, err)

	errEmpty := errors.New("empty word")
	lengths, err = gopool.Map(shared, []string{"a", "", "abc"}, func(_ context.Context, w string) (int, error) {
		if w == "" {
			return 0, errEmpty
		}
		return len(w), nil
	})
	fmt.Println(lengths, err)
	// Output:
	// [6 4 3 5] <nil>
	// [1 0 3] empty word
}
