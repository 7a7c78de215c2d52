package main

// version is the poolscope release; set with -ldflags "-X main.version=...".
var version = "0.1.0-dev"
