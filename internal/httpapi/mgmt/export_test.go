package mgmt

// Routes lists the served routes as "METHOD PATH", for the tests.
func Routes() []string {
	var out []string
	for _, rt := range routes {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}
