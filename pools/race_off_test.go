//go:build !race

package pools_test

const raceEnabled = false
