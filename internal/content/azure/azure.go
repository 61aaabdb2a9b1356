// Package azure is the [content.Store] driver for Azure Blob Storage: the
// [Bucket] that [objects.Store] keeps blobs and uploads in, a container of
// block blobs. Each Append's bytes are a blob of their own; a commit stages
// one block per part on the blob being made, copied by the service from the
// part (Put Block From URL), and commits the block list, at which moment the
// blob appears whole.
//
// Credentials are an account key, a connection string or a SAS token when
// Options give one, and otherwise Azure's credential chain
// (DefaultAzureCredential: environment, workload identity, managed
// identity, Azure CLI).
package azure

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/wharf-dev/wharf/internal/content/objects"
)

var (
	_ objects.Bucket = (*Bucket)(nil)
	_ objects.Signer = (*Bucket)(nil)
)

// DefaultPresignExpiry is how long a redirect URL stays valid when
// Options.PresignExpiry is zero.
const DefaultPresignExpiry = 15 * time.Minute

// MaxPresignExpiry is the longest a redirect URL may stay valid: the
// longest a user delegation key lives.
const MaxPresignExpiry = 7 * 24 * time.Hour

// Options configure an Azure Blob Storage store. At most one of AccountKey,
// ConnectionString and SASToken may be set; none means the credential
// chain.
type Options struct {
	// AccountName is the storage account. Required unless
	// ConnectionString names it.
	AccountName string
	// Container holds everything; it must exist. Required.
	Container string
	// Prefix is prepended to every blob name, so one container can hold
	// several registries or other data.
	Prefix string
	// Endpoint is the blob service URL, such as
	// "http://127.0.0.1:10000/devstoreaccount1" for Azurite. Empty means
	// https://<AccountName>.blob.core.windows.net/.
	Endpoint string
	// AccountKey is the account's shared key.
	AccountKey string
	// ConnectionString names the account, its endpoint and a key or SAS.
	ConnectionString string
	// SASToken authorizes every request; it cannot sign redirect URLs.
	SASToken string
	// Redirect makes the store's RedirectURL hand clients read-only SAS
	// URLs of blobs, so their bytes go from the store to the client without
	// passing through the registry: signed with the account key, or with a
	// user delegation key under the credential chain.
	Redirect bool
	// PresignExpiry is how long a redirect URL is valid; zero means
	// [DefaultPresignExpiry]. At most [MaxPresignExpiry].
	PresignExpiry time.Duration
}

func (o Options) validate() error {
	if o.Container == "" {
		return errors.New("azure container: required")
	}
	set := 0
	for _, s := range []string{o.AccountKey, o.ConnectionString, o.SASToken} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return errors.New("azure account key, connection string and SAS token: set at most one")
	}
	if o.ConnectionString == "" && o.AccountName == "" {
		return errors.New("azure account name: required without a connection string")
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("azure endpoint %q: want an http or https URL", o.Endpoint)
		}
	}
	if o.Redirect && o.SASToken != "" {
		return errors.New("azure redirect: a SAS token cannot sign URLs")
	}
	if o.PresignExpiry < 0 || o.PresignExpiry > MaxPresignExpiry {
		return fmt.Errorf("azure presign expiry %s: must be between 0 and %s", o.PresignExpiry, MaxPresignExpiry)
	}
	if err := objects.CheckPrefix(o.Prefix); err != nil {
		return fmt.Errorf("azure %w", err)
	}
	return nil
}

// Bucket is an Azure Blob Storage container.
type Bucket struct {
	container *container.Client
	name      string
	auth      authority
	expiry    time.Duration
	// noCopyFromURL is set once the service has answered that it lacks Put
	// Block From URL (Azurite does): commits then pass the bytes through.
	noCopyFromURL atomic.Bool
}

// New connects to the container named in opts, checks that it is reachable
// with the credentials given, and returns the store kept in it.
func New(ctx context.Context, opts Options) (*objects.Store, error) {
	b, err := NewBucket(ctx, opts)
	if err != nil {
		return nil, err
	}
	if opts.Redirect {
		// Under the credential chain signing needs a user delegation key,
		// which the identity may not be allowed: find out now, not at the
		// first pull.
		if _, err := b.SignURL(ctx, "wharf-signing-check"); err != nil {
			return nil, fmt.Errorf("azure redirect: %w", err)
		}
	}
	s, err := objects.New(b, objects.Options{Prefix: opts.Prefix, Redirect: opts.Redirect})
	if err != nil {
		return nil, fmt.Errorf("azure %w", err)
	}
	return s, nil
}

// NewBucket connects to the container named in opts and checks that it is
// reachable with the credentials given.
func NewBucket(ctx context.Context, opts Options) (*Bucket, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	acct := account{name: opts.AccountName, key: opts.AccountKey, sas: strings.TrimPrefix(opts.SASToken, "?")}
	acct.serviceURL = opts.Endpoint
	if opts.ConnectionString != "" {
		var err error
		if acct, err = parseConnectionString(opts.ConnectionString); err != nil {
			return nil, err
		}
		if opts.Redirect && acct.key == "" {
			return nil, errors.New("azure redirect: a connection string without an AccountKey cannot sign URLs")
		}
	}
	if acct.serviceURL == "" {
		acct.serviceURL = "https://" + acct.name + ".blob.core.windows.net/"
	}
	if !strings.HasSuffix(acct.serviceURL, "/") {
		acct.serviceURL += "/"
	}
	b := &Bucket{name: opts.Container, expiry: opts.PresignExpiry}
	if b.expiry == 0 {
		b.expiry = DefaultPresignExpiry
	}
	containerURL := acct.serviceURL + url.PathEscape(opts.Container)
	var err error
	switch {
	case acct.key != "":
		cred, kerr := container.NewSharedKeyCredential(acct.name, acct.key)
		if kerr != nil {
			return nil, fmt.Errorf("azure account key: %w", kerr)
		}
		b.container, err = container.NewClientWithSharedKeyCredential(containerURL, cred, nil)
		b.auth = sharedKey{}
	case acct.sas != "":
		b.container, err = container.NewClientWithNoCredential(containerURL+"?"+acct.sas, nil)
		b.auth = sasToken{}
	default:
		cred, cerr := azidentity.NewDefaultAzureCredential(nil)
		if cerr != nil {
			return nil, fmt.Errorf("azure credential chain: %w", cerr)
		}
		b.container, err = container.NewClient(containerURL, cred, nil)
		if err == nil {
			svc, serr := service.NewClient(acct.serviceURL, cred, nil)
			if serr != nil {
				return nil, fmt.Errorf("azure service client: %w", serr)
			}
			b.auth = &tokenCredential{cred: cred, service: svc}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("azure container client: %w", err)
	}
	if err := b.Ping(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// account is where the blob service is and how to sign in to it.
type account struct {
	serviceURL string
	name, key  string
	sas        string
}

// parseConnectionString reads the settings of an Azure Storage connection
// string that address the blob service.
func parseConnectionString(s string) (account, error) {
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimRight(s, ";"), ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return account{}, errors.New("azure connection string: want Key=Value pairs separated by semicolons")
		}
		fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	a := account{name: fields["AccountName"], key: fields["AccountKey"], sas: strings.TrimPrefix(fields["SharedAccessSignature"], "?")}
	switch {
	case a.key != "" && a.name == "":
		return account{}, errors.New("azure connection string: AccountKey without AccountName")
	case a.key == "" && a.sas == "":
		return account{}, errors.New("azure connection string: needs AccountKey or SharedAccessSignature")
	}
	a.serviceURL = fields["BlobEndpoint"]
	if a.serviceURL == "" {
		if a.name == "" {
			return account{}, errors.New("azure connection string: needs BlobEndpoint or AccountName")
		}
		protocol, suffix := fields["DefaultEndpointsProtocol"], fields["EndpointSuffix"]
		if protocol == "" {
			protocol = "https"
		}
		if suffix == "" {
			suffix = "core.windows.net"
		}
		a.serviceURL = protocol + "://" + a.name + ".blob." + suffix + "/"
	}
	if u, err := url.Parse(a.serviceURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return account{}, errors.New("azure connection string: BlobEndpoint is not an http or https URL")
	}
	return a, nil
}

// authority is how the bucket signs URLs of its blobs, for clients
// (redirects) and for the service (the source of Put Block From URL).
type authority interface {
	// source returns the URL of blob key the service may copy from, and
	// the authorization header to send with it, if any.
	source(ctx context.Context, b *Bucket, key string) (src string, auth *string, err error)
	// sign returns a URL anyone may read blob key from until expiry.
	sign(ctx context.Context, b *Bucket, key string, expiry time.Time) (string, error)
}

// sourceExpiry is how long the URL a commit copies a part from is valid:
// longer than any copy of one part takes.
const sourceExpiry = 2 * time.Hour

// sharedKey signs service SAS URLs with the account key.
type sharedKey struct{}

func (sharedKey) source(_ context.Context, b *Bucket, key string) (string, *string, error) {
	u, err := sharedKey{}.sign(context.Background(), b, key, time.Now().Add(sourceExpiry))
	return u, nil, err
}

func (sharedKey) sign(_ context.Context, b *Bucket, key string, expiry time.Time) (string, error) {
	return b.container.NewBlobClient(key).GetSASURL(readOnly, expiry, nil)
}

// sasToken sends the configured SAS with every URL, the service's copies
// included; it cannot sign URLs for clients.
type sasToken struct{}

func (sasToken) source(_ context.Context, b *Bucket, key string) (string, *string, error) {
	return b.container.NewBlobClient(key).URL(), nil, nil
}

func (sasToken) sign(context.Context, *Bucket, string, time.Time) (string, error) {
	return "", errors.New("a SAS token cannot sign URLs")
}

// tokenCredential authorizes the service's copies with the caller's own
// OAuth token and signs redirects with a user delegation key, which it
// keeps for a day and renews when it has less than a redirect's validity
// left.
type tokenCredential struct {
	cred    azcore.TokenCredential
	service *service.Client

	mu  sync.Mutex
	udc *service.UserDelegationCredential
	end time.Time
}

// delegationKeyLife is how long a user delegation key is asked for.
const delegationKeyLife = 24 * time.Hour

func (t *tokenCredential) source(ctx context.Context, b *Bucket, key string) (string, *string, error) {
	tok, err := t.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{storageScope}})
	if err != nil {
		return "", nil, fmt.Errorf("token for copying %s: %w", key, err)
	}
	auth := "Bearer " + tok.Token
	return b.container.NewBlobClient(key).URL(), &auth, nil
}

// storageScope is the OAuth scope of Azure Storage.
const storageScope = "https://storage.azure.com/.default"

func (t *tokenCredential) sign(ctx context.Context, b *Bucket, key string, expiry time.Time) (string, error) {
	udc, err := t.delegationKey(ctx, expiry)
	if err != nil {
		return "", err
	}
	qp, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPS,
		ExpiryTime:    expiry.UTC(),
		Permissions:   readOnly.String(),
		ContainerName: b.name,
		BlobName:      key,
	}.SignWithUserDelegation(udc)
	if err != nil {
		return "", err
	}
	return b.container.NewBlobClient(key).URL() + "?" + qp.Encode(), nil
}

// delegationKey returns a user delegation key valid at least until expiry.
func (t *tokenCredential) delegationKey(ctx context.Context, expiry time.Time) (*service.UserDelegationCredential, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.udc != nil && t.end.After(expiry) {
		return t.udc, nil
	}
	now := time.Now().UTC()
	end := now.Add(min(max(delegationKeyLife, 2*time.Until(expiry)), MaxPresignExpiry))
	start := now.Add(-5 * time.Minute) // the service's clock may be behind ours
	udc, err := t.service.GetUserDelegationCredential(ctx, service.KeyInfo{
		Start:  to.Ptr(start.Format(sas.TimeFormat)),
		Expiry: to.Ptr(end.Format(sas.TimeFormat)),
	}, nil)
	if err != nil {
		return nil, fail(err, "get user delegation key")
	}
	t.udc, t.end = udc, end
	return udc, nil
}

// readOnly is what a signed URL allows.
var readOnly = sas.BlobPermissions{Read: true}
