package precheck

// HostOther: findings of the node agent whose ID no other host-* check knows (a newer
// agent may add probes before the plugin learns them); nothing is dropped.
func (checks) HostOther() Check {
	c := hostCheck("host-other", "Other host findings of the node agent", SeverityWarning, "see each finding")
	c.Run = func(v *View) []Finding {
		known := map[string]bool{}
		for _, k := range Checks() {
			if k.Deep && k.ID != "host-other" {
				known[k.ID] = true
			}
		}
		return hostFindings(v, func(id string) bool { return !known[id] })
	}
	return c
}
