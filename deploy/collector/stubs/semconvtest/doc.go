package semconvtest // stub, see go.mod
