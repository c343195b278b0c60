//go:build race

package gopool

func init() { raceEnabled = true }
