package pools

// DialBackoffMax is the dial gate's longest back-off (dialBackoffMax),
// exported for the external test package's recovery bound.
const DialBackoffMax = dialBackoffMax
