//go:build race

package pools_test

const raceEnabled = true
