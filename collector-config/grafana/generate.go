package grafana

//go:generate go run ./gen
