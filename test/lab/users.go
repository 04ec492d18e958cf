package lab

// Users of the lab's client certificates (signed by the lab CA). The admin is in
// system:masters; the other two have no rights until RBAC from manifests/ binds them
// (by user name or by group).
const (
	AdminUser = "kubernetes-admin"

	// OperatorUser is the least-privilege user that runs upgrades.
	OperatorUser  = "edgeupgrade-operator"
	OperatorGroup = "edgeupgrade:operators"

	// ViewerUser may only read (status --read-only).
	ViewerUser  = "edgeupgrade-viewer"
	ViewerGroup = "edgeupgrade:viewers"

	// FlowSchemaUsers is the API Priority and Fairness FlowSchema the lab creates for
	// OperatorUser and ViewerUser. It maps them to the usual priority level
	// (global-default) and exists only so /metrics can count their requests:
	// apiserver_flowcontrol_dispatched_requests_total{flow_schema="edgeupgrade-lab-users"}.
	FlowSchemaUsers = "edgeupgrade-lab-users"
)
