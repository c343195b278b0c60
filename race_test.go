//go:build race

package gopool_test

func init() { raceEnabled = true }
