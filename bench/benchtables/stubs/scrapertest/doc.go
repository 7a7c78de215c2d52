package scrapertest // stub, see go.mod
