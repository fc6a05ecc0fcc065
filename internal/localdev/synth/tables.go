package synth

// The tables the events are drawn from: the weights of the routes and
// hours, the entities' body sizes, creatable entities and referrer pages,
// and the value lists of path parameters.

// hourWeights is the relative activity per UTC hour on a working day: quiet
// nights, European mornings, the overlap with the Americas in the
// afternoon, American evenings.
var hourWeights = [24]float64{
	0.6, 0.5, 0.5, 0.5, 0.6, 0.8, 1.2, 2.0, 3.2, 4.0, 4.3, 4.2,
	3.9, 4.3, 4.6, 4.6, 4.2, 3.6, 2.9, 2.4, 1.9, 1.5, 1.1, 0.8,
}

// creatable are the entities whose PUT with an ID creates when the ID is
// new (201).
var creatable = map[string]bool{
	"environments": true, "content_types": true, "entries": true, "assets": true, "ui_extensions": true,
	"tags": true, "webhooks": true, "app_installations": true, "resource_providers": true, "releases": true,
}

// bodySize is the mean response body of a successful change, by entity.
var bodySize = map[string]float64{
	"entries": 2400, "assets": 1500, "content_types": 3500, "editor_interface": 2600, "releases": 1800,
	"locales": 520, "tags": 380, "webhooks": 950, "roles": 2100, "space_memberships": 720, "api_keys": 1150,
	"workflows": 1400, "tasks": 820, "app_installations": 640, "environments": 930, "spaces": 610,
	"space_enablements": 480, "ui_config": 4200, "ui_extensions": 1600, "content_model_templates": 2500,
	"resource_providers": 700,
}

// refPage is the web app page a user was on, by entity, and the parameter
// that ends it.
var refPage = map[string]struct{ page, param string }{
	"entries":           {"/entries", "entry_id"},
	"tasks":             {"/entries", "entry_id"},
	"assets":            {"/assets", "asset_id"},
	"content_types":     {"/content_types", "content_type_id"},
	"editor_interface":  {"/content_types", "content_type_id"},
	"releases":          {"/releases", "release_id"},
	"workflows":         {"/settings/workflows", ""},
	"locales":           {"/settings/locales", ""},
	"tags":              {"/settings/tags", ""},
	"webhooks":          {"/settings/webhooks", "webhook_definition_id"},
	"roles":             {"/settings/roles", "role_id"},
	"space_memberships": {"/settings/users", ""},
	"api_keys":          {"/api/keys", "api_key_id"},
	"environments":      {"/settings/environments", ""},
	"spaces":            {"/settings/space", ""},
	"space_enablements": {"/settings/space", ""},
	"ui_extensions":     {"/settings/extensions", ""},
	"app_installations": {"/apps", ""},
	"ui_config":         {"/entries", ""},
}

const envPath = "/spaces/:space_id/environments/:environment_id"

var routeWeights = map[string]float64{
	"PUT " + envPath + "/entries/:entry_id":              300,
	"PATCH " + envPath + "/entries/:entry_id":            120,
	"PUT " + envPath + "/entries/:entry_id/published":    150,
	"DELETE " + envPath + "/entries/:entry_id/published": 20,
	"DELETE " + envPath + "/entries/:entry_id":           25,
	"PUT " + envPath + "/entries/:entry_id/archived":     10,
	"DELETE " + envPath + "/entries/:entry_id/archived":  4,
	"POST " + envPath + "/entries":                       60,

	"PUT " + envPath + "/assets/:asset_id":                            80,
	"PUT " + envPath + "/assets/:asset_id/files/:locale_code/process": 60,
	"PUT " + envPath + "/assets/:asset_id/published":                  60,
	"DELETE " + envPath + "/assets/:asset_id/published":               6,
	"DELETE " + envPath + "/assets/:asset_id":                         10,
	"PUT " + envPath + "/assets/:asset_id/archived":                   4,
	"DELETE " + envPath + "/assets/:asset_id/archived":                2,
	"POST " + envPath + "/assets":                                     25,

	"PUT " + envPath + "/content_types/:content_type_id":                  15,
	"PUT " + envPath + "/content_types/:content_type_id/published":        15,
	"DELETE " + envPath + "/content_types/:content_type_id/published":     2,
	"DELETE " + envPath + "/content_types/:content_type_id":               2,
	"PUT " + envPath + "/content_types/:content_type_id/editor_interface": 10,

	"PUT " + envPath + "/entries/:entry_id/tasks/:task_id":    8,
	"DELETE " + envPath + "/entries/:entry_id/tasks/:task_id": 3,

	"PUT " + envPath + "/releases/:release_id":                                             10,
	"DELETE " + envPath + "/releases/:release_id":                                          3,
	"PUT " + envPath + "/releases/:release_id/published":                                   6,
	"DELETE " + envPath + "/releases/:release_id/published":                                1,
	"PUT " + envPath + "/releases/:release_id/archived":                                    2,
	"DELETE " + envPath + "/releases/:release_id/archived":                                 1,
	"PUT " + envPath + "/releases/:release_id/entries/:entry_id":                           6,
	"PATCH " + envPath + "/releases/:release_id/entries/:entry_id":                         4,
	"PUT " + envPath + "/releases/:release_id/assets/:asset_id":                            3,
	"PUT " + envPath + "/releases/:release_id/assets/:asset_id/files/:locale_code/process": 2,

	"PUT " + envPath + "/workflows/:workflow_id":                          8,
	"PUT " + envPath + "/workflows/:workflow_id/complete":                 4,
	"DELETE " + envPath + "/workflows/:workflow_id":                       2,
	"PUT " + envPath + "/workflow_definitions/:workflow_definition_id":    1,
	"DELETE " + envPath + "/workflow_definitions/:workflow_definition_id": 0.5,
	"PUT " + envPath + "/tags/:tag_id":                                    6,
	"DELETE " + envPath + "/tags/:tag_id":                                 1,
	"PUT " + envPath + "/locales/:locale_id":                              1,
	"DELETE " + envPath + "/locales/:locale_id":                           0.5,
	"PUT " + envPath + "/ui_config":                                       4,
	"PUT " + envPath + "/ui_config/me":                                    8,
	"PUT " + envPath + "/app_installations/:app_definition_id":            3,
	"DELETE " + envPath + "/app_installations/:app_definition_id":         0.5,
	"PUT " + envPath + "/extensions/:extension_id":                        1,
	"DELETE " + envPath + "/extensions/:extension_id":                     0.3,
	"PUT " + envPath + "/template_installations/:template_id/validated":   0.5,
	"PUT /spaces/:space_id/environments/:environment_id":                  2,
	"DELETE /spaces/:space_id/environments/:environment_id":               1.5,
	"PUT /spaces/:space_id/environment_aliases/:environment_alias_id":     1,
	"DELETE /spaces/:space_id/environment_aliases/:environment_alias_id":  0.3,
	"PUT /spaces/:space_id/webhook_definitions/:webhook_definition_id":    1,
	"DELETE /spaces/:space_id/webhook_definitions/:webhook_definition_id": 0.4,
	"PUT /spaces/:space_id/roles/:role_id":                                1,
	"DELETE /spaces/:space_id/roles/:role_id":                             0.3,
	"PUT /spaces/:space_id/space_memberships/:space_membership_id":        2,
	"DELETE /spaces/:space_id/space_memberships/:space_membership_id":     1,
	"PUT /spaces/:space_id/api_keys/:api_key_id":                          1,
	"DELETE /spaces/:space_id/api_keys/:api_key_id":                       0.4,
	"PUT /spaces/:space_id":                                               0.3,
	"DELETE /spaces/:space_id":                                            0.2,
	"PUT /spaces/:space_id/space_add_ons":                                 0.2,
	"PUT /spaces/:space_id/enablements":                                   0.2,
	"PUT /spaces/:space_id/webhook_settings/signing_secret":               0.2,
	"DELETE /spaces/:space_id/webhook_settings/signing_secret":            0.2,
}

// Static value lists. Weighted lists put the common values first and are
// drawn with skew.
var (
	locales      = []string{"en-US", "de-DE", "fr-FR", "en-GB", "es-ES", "it-IT", "nl-NL", "ja-JP", "pt-BR", "zh-CN", "pl-PL", "sv-SE"}
	contentTypes = []string{"blogPost", "page", "product", "author", "category", "landingPage", "article", "seo", "navigation", "heroBanner", "productCategory", "event", "faq", "testimonial", "footer", "pressRelease"}
	tags         = []string{"featured", "regionEu", "regionUs", "campaignSpring", "holidaySale", "legalReview", "internal", "brandRefresh", "seasonal", "archive2025"}
	devEnvs      = []string{"dev-anna", "dev-checkout", "dev-ben", "dev-redesign", "dev-jmartin", "dev-search", "dev-migration", "dev-lukas", "dev-i18n", "dev-sofia"}
	numbers      = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}
	queries      []string // "locale=<code>", one per locale
)

func init() {
	for _, l := range locales {
		queries = append(queries, "locale="+l)
	}
}

// appHost is the web app's origin, the start of a user's referrer.
const appHost = "https://app.contentful.com"
