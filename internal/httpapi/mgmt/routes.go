package mgmt

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/internal/access"
)

// route is one endpoint: a method and a path template as the OpenAPI
// document writes it. A {name} parameter matches one path segment, except
// {repository}, which matches one or more (repository names hold slashes);
// the segments after it are matched from the right.
type route struct {
	method string
	path   string
	public bool // served without authentication
	// handler writes a success itself and returns an error for writeProblem.
	handler func(*Handler, http.ResponseWriter, *http.Request, access.Caller, params) error
}

// routes is every endpoint of the API. The OpenAPI document lists exactly
// these (TestOpenAPIMatchesRoutes).
var routes = append([]route{
	{method: http.MethodGet, path: "/api/v1/openapi.json", public: true, handler: (*Handler).openAPI},
	{method: http.MethodGet, path: "/api/v1/me", handler: (*Handler).me},

	{method: http.MethodGet, path: "/api/v1/users", handler: (*Handler).listUsers},
	{method: http.MethodPost, path: "/api/v1/users", handler: (*Handler).createUser},
	{method: http.MethodPost, path: "/api/v1/users/import", handler: (*Handler).importUsers},
	{method: http.MethodGet, path: "/api/v1/users/{user}", handler: (*Handler).getUser},
	{method: http.MethodPatch, path: "/api/v1/users/{user}", handler: (*Handler).updateUser},
	{method: http.MethodDelete, path: "/api/v1/users/{user}", handler: (*Handler).deleteUser},
	{method: http.MethodGet, path: "/api/v1/users/{user}/memberships", handler: (*Handler).listMemberships},
	{method: http.MethodGet, path: "/api/v1/users/{user}/tokens", handler: (*Handler).listTokens},
	{method: http.MethodPost, path: "/api/v1/users/{user}/tokens", handler: (*Handler).createToken},
	{method: http.MethodDelete, path: "/api/v1/users/{user}/tokens/{id}", handler: (*Handler).revokeToken},

	{method: http.MethodGet, path: "/api/v1/namespaces", handler: (*Handler).listNamespaces},
	{method: http.MethodPost, path: "/api/v1/namespaces", handler: (*Handler).createNamespace},
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}", handler: (*Handler).getNamespace},
	{method: http.MethodPatch, path: "/api/v1/namespaces/{namespace}", handler: (*Handler).updateNamespace},
	{method: http.MethodDelete, path: "/api/v1/namespaces/{namespace}", handler: (*Handler).deleteNamespace},
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/members", handler: (*Handler).listMembers},
	{method: http.MethodPut, path: "/api/v1/namespaces/{namespace}/members/{user}", handler: (*Handler).putMember},
	{method: http.MethodDelete, path: "/api/v1/namespaces/{namespace}/members/{user}", handler: (*Handler).deleteMember},
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/robots", handler: (*Handler).listRobots},
	{method: http.MethodPost, path: "/api/v1/namespaces/{namespace}/robots", handler: (*Handler).createRobot},
	{method: http.MethodDelete, path: "/api/v1/namespaces/{namespace}/robots/{id}", handler: (*Handler).revokeRobot},

	{method: http.MethodGet, path: "/api/v1/repositories", handler: (*Handler).listRepositories},
	{method: http.MethodGet, path: "/api/v1/repositories/{repository}/tags", handler: (*Handler).listTags},
	{method: http.MethodDelete, path: "/api/v1/repositories/{repository}/tags/{tag}", handler: (*Handler).deleteTag},
	{method: http.MethodDelete, path: "/api/v1/repositories/{repository}/manifests/{digest}", handler: (*Handler).deleteManifest},

	{method: http.MethodGet, path: "/api/v1/audit", handler: (*Handler).queryAudit},
	{method: http.MethodPost, path: "/api/v1/gc", handler: (*Handler).collectGarbage},

	{method: http.MethodGet, path: "/api/v1/keys", handler: (*Handler).listKeys},
	{method: http.MethodPost, path: "/api/v1/keys/rotate", handler: (*Handler).rotateKey},
	{method: http.MethodPost, path: "/api/v1/keys/{id}/retire", handler: (*Handler).retireKey},
}, slices.Concat(lifecycleRoutes, replicationRoutes, usageRoutes, scanRoutes, promotionRoutes, networkRoutes, trustRoutes, upstreamRoutes, webhookRoutes)...)

// params are the path parameters of a matched route, unescaped.
type params map[string]string

// match finds the route for method and the escaped path. When the path
// matches routes of other methods only, it returns them in allowed.
func match(method, escapedPath string) (rt *route, p params, allowed []string) {
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	for i := range routes {
		q, ok := matchPath(routes[i].path, segs)
		if !ok {
			continue
		}
		if routes[i].method == method {
			return &routes[i], q, nil
		}
		allowed = append(allowed, routes[i].method)
	}
	return nil, nil, allowed
}

// matchPath matches path segments against a template.
func matchPath(template string, segs []string) (params, bool) {
	tsegs := strings.Split(strings.TrimPrefix(template, "/"), "/")
	p := params{}
	for i, t := range tsegs {
		if t != "{repository}" {
			continue
		}
		after := tsegs[i+1:]
		if len(segs) < i+1+len(after) {
			return nil, false
		}
		end := len(segs) - len(after)
		if _, ok := matchSegments(tsegs[:i], segs[:i], p); !ok {
			return nil, false
		}
		if _, ok := matchSegments(after, segs[end:], p); !ok {
			return nil, false
		}
		repo, err := url.PathUnescape(strings.Join(segs[i:end], "/"))
		if err != nil || repo == "" {
			return nil, false
		}
		p["repository"] = repo
		return p, true
	}
	return matchSegments(tsegs, segs, p)
}

func matchSegments(tsegs, segs []string, p params) (params, bool) {
	if len(tsegs) != len(segs) {
		return nil, false
	}
	for i, t := range tsegs {
		if name, ok := strings.CutPrefix(t, "{"); ok {
			v, err := url.PathUnescape(segs[i])
			if err != nil || v == "" {
				return nil, false
			}
			p[strings.TrimSuffix(name, "}")] = v
			continue
		}
		if t != segs[i] {
			return nil, false
		}
	}
	return p, true
}
