package events

// The kinds of event. Each has a data type of the same name in this
// package; docs/events.md describes them with an example each.
const (
	KindArtifactPushed    Kind = "artifact.pushed"
	KindArtifactPulled    Kind = "artifact.pulled"
	KindArtifactDeleted   Kind = "artifact.deleted"
	KindTagMoved          Kind = "tag.moved"
	KindTagDeleted        Kind = "tag.deleted"
	KindBlobDeleted       Kind = "blob.deleted"
	KindRepositoryCreated Kind = "repository.created"
	KindRepositoryDeleted Kind = "repository.deleted"
	KindQuotaExceeded     Kind = "quota.exceeded"
	KindQuotaWarning      Kind = "quota.warning"
	KindPolicyChanged     Kind = "policy.changed"
	KindRetentionRun      Kind = "retention.run"
	KindGCRun             Kind = "gc.run"

	KindNamespaceCreated Kind = "namespace.created"
	KindNamespaceUpdated Kind = "namespace.updated"
	KindNamespaceDeleted Kind = "namespace.deleted"
	KindMemberSet        Kind = "member.set"
	KindMemberRemoved    Kind = "member.removed"
	KindUserCreated      Kind = "user.created"
	KindUserUpdated      Kind = "user.updated"
	KindUserDeleted      Kind = "user.deleted"
	KindUsersImported    Kind = "users.imported"
	KindTokenCreated     Kind = "token.created"
	KindTokenRevoked     Kind = "token.revoked"
	KindRobotCreated     Kind = "robot.created"
	KindRobotRevoked     Kind = "robot.revoked"
	KindLoginSucceeded   Kind = "login.succeeded"
	KindLoginFailed      Kind = "login.failed"
	KindSessionStarted   Kind = "session.started"
	KindSessionEnded     Kind = "session.ended"
	KindAccessDenied     Kind = "access.denied"
	KindRequestFailed    Kind = "request.failed"
	KindKeyRotated       Kind = "key.rotated"
	KindKeyRetired       Kind = "key.retired"
	KindWebhookChanged   Kind = "webhook.changed"

	// The kinds of the features built on the stream (kinds_later.go).
	KindScanRequested          Kind = "scan.requested"
	KindScanCompleted          Kind = "scan.completed"
	KindSignatureVerified      Kind = "signature.verified"
	KindArtifactPromoted       Kind = "artifact.promoted"
	KindPromotionRequested     Kind = "promotion.requested"
	KindPromotionApproved      Kind = "promotion.approved"
	KindReplicationRuleChanged Kind = "replication.rule.changed"
	KindReplicationRun         Kind = "replication.run"

	// KindPing is the test event of a webhook; it is sent, never stored.
	KindPing Kind = "webhook.ping"
)

// kindInfo is what the package knows of a kind.
type kindInfo struct {
	new func() Data
}

// catalog lists every kind with a constructor of its data, for decoding.
var catalog = map[Kind]kindInfo{
	KindArtifactPushed:    {func() Data { return &ArtifactPushed{} }},
	KindArtifactPulled:    {func() Data { return &ArtifactPulled{} }},
	KindArtifactDeleted:   {func() Data { return &ArtifactDeleted{} }},
	KindTagMoved:          {func() Data { return &TagMoved{} }},
	KindTagDeleted:        {func() Data { return &TagDeleted{} }},
	KindBlobDeleted:       {func() Data { return &BlobDeleted{} }},
	KindRepositoryCreated: {func() Data { return &RepositoryCreated{} }},
	KindRepositoryDeleted: {func() Data { return &RepositoryDeleted{} }},
	KindQuotaExceeded:     {func() Data { return &QuotaExceeded{} }},
	KindQuotaWarning:      {func() Data { return &QuotaWarning{} }},
	KindPolicyChanged:     {func() Data { return &PolicyChanged{} }},
	KindRetentionRun:      {func() Data { return &RetentionRun{} }},
	KindGCRun:             {func() Data { return &GCRun{} }},

	KindNamespaceCreated: {func() Data { return &NamespaceCreated{} }},
	KindNamespaceUpdated: {func() Data { return &NamespaceUpdated{} }},
	KindNamespaceDeleted: {func() Data { return &NamespaceDeleted{} }},
	KindMemberSet:        {func() Data { return &MemberSet{} }},
	KindMemberRemoved:    {func() Data { return &MemberRemoved{} }},
	KindUserCreated:      {func() Data { return &UserCreated{} }},
	KindUserUpdated:      {func() Data { return &UserUpdated{} }},
	KindUserDeleted:      {func() Data { return &UserDeleted{} }},
	KindUsersImported:    {func() Data { return &UsersImported{} }},
	KindTokenCreated:     {func() Data { return &TokenCreated{} }},
	KindTokenRevoked:     {func() Data { return &TokenRevoked{} }},
	KindRobotCreated:     {func() Data { return &RobotCreated{} }},
	KindRobotRevoked:     {func() Data { return &RobotRevoked{} }},
	KindLoginSucceeded:   {func() Data { return &LoginSucceeded{} }},
	KindLoginFailed:      {func() Data { return &LoginFailed{} }},
	KindSessionStarted:   {func() Data { return &SessionStarted{} }},
	KindSessionEnded:     {func() Data { return &SessionEnded{} }},
	KindAccessDenied:     {func() Data { return &AccessDenied{} }},
	KindRequestFailed:    {func() Data { return &RequestFailed{} }},
	KindKeyRotated:       {func() Data { return &KeyRotated{} }},
	KindKeyRetired:       {func() Data { return &KeyRetired{} }},
	KindWebhookChanged:   {func() Data { return &WebhookChanged{} }},

	KindScanRequested:          {func() Data { return &ScanRequested{} }},
	KindScanCompleted:          {func() Data { return &ScanCompleted{} }},
	KindSignatureVerified:      {func() Data { return &SignatureVerified{} }},
	KindArtifactPromoted:       {func() Data { return &ArtifactPromoted{} }},
	KindPromotionRequested:     {func() Data { return &PromotionRequested{} }},
	KindPromotionApproved:      {func() Data { return &PromotionApproved{} }},
	KindReplicationRuleChanged: {func() Data { return &ReplicationRuleChanged{} }},
	KindReplicationRun:         {func() Data { return &ReplicationRun{} }},

	KindPing: {func() Data { return &Ping{} }},
}

// Kinds returns every kind, for validating subscriptions and for docs.
func Kinds() []Kind {
	out := make([]Kind, 0, len(catalog))
	for k := range catalog {
		if k != KindPing {
			out = append(out, k)
		}
	}
	return out
}

// Known reports whether k is a kind of this version.
func Known(k Kind) bool {
	_, ok := catalog[k]
	return ok && k != KindPing
}
