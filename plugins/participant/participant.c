/* participant.c — the KP status of the certificate's issuer, and whether
 * the goods are imported into this checkpoint's jurisdiction.
 *
 * The issuing participant's status comes from the trust list in force
 * (scan->issuer_status): not a participant or suspended, reject;
 * restricted (e.g. exports only under a KP monitor), refer. The certificate's
 * importing participant must be this checkpoint's (env->jurisdiction, or
 * the section's jurisdiction). Whether the importing participant is itself
 * suspended is for the trust list's keeper, not this plugin. Config:
 *   jurisdiction = "EU";   overrides the checkpoint's jurisdiction
 *
 * Reason codes (docs/plugins.md), the most severe applying one given:
 *   1200 participant_ok                  accept
 *   1201 issuer_not_participant          reject
 *   1202 issuer_suspended                reject
 *   1203 issuer_restricted               refer
 *   1204 importer_not_this_jurisdiction  reject
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kpgate/plugin.h>

enum {
	PARTICIPANT_OK = 1200,
	PARTICIPANT_ISSUER_NONE = 1201,
	PARTICIPANT_ISSUER_SUSPENDED = 1202,
	PARTICIPANT_ISSUER_RESTRICTED = 1203,
	PARTICIPANT_WRONG_IMPORTER = 1204,
};

struct participant_state {
	char jurisdiction[3];
};

/* KP participants are ISO 3166-1 alpha-2 codes, the Union being "EU". */
static bool code_ok(const char *s)
{
	return s && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
	       s[2] == '\0';
}

static int participant_configure(void *instance, const struct kpg_plugin_env *env,
				 const config_setting_t *section, void **state)
{
	static const char *const keys[] = { "jurisdiction", NULL };
	const char *j = env->jurisdiction;
	const config_setting_t *s;
	struct participant_state *st;
	int rc;

	if ((rc = env->check_keys(env, section, keys)) < 0)
		return rc;
	s = section ? config_setting_get_member(section, "jurisdiction") : NULL;
	if (s) {
		j = config_setting_get_string(s);
		if (!code_ok(j)) {
			env->error(env, s, "'jurisdiction' must be a participant code "
				   "such as \"EU\" or \"BW\"");
			return -EINVAL;
		}
	} else if (!code_ok(j)) {
		env->error(env, NULL, "the checkpoint's jurisdiction '%s' is not a "
			   "participant code: set jurisdiction = \"XX\"", j ? j : "");
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	memcpy(st->jurisdiction, j, 3);
	*state = st;
	return 0;
}

static void participant_release(void *instance, void *state)
{
	free(state);
}

/* out->detail = a + the participant code b + c, without snprintf: this
 * runs for every request. */
static void say(struct kpg_plugin_verdict *out, const char *a, const char *code,
		const char *c)
{
	size_t na = strlen(a), nc = strlen(c);

	memcpy(out->detail, a, na);                  /* short literals */
	out->detail[na] = code[0] ? code[0] : '?';
	out->detail[na + 1] = code[1] ? code[1] : '?';
	memcpy(out->detail + na + 2, c, nc + 1);
}

static void participant_evaluate(void *instance, const void *state,
				 const struct kpg_scan_view *scan,
				 struct kpg_plugin_verdict *out)
{
	const struct participant_state *st = state;
	const struct kpg_cert *c = scan->cert;

	switch (scan->issuer_status) {
	case KPG_PARTICIPANT_MEMBER:
	case KPG_PARTICIPANT_RESTRICTED:
		break;
	case KPG_PARTICIPANT_SUSPENDED:
		out->decision = KPG_REJECT;
		out->reason = PARTICIPANT_ISSUER_SUSPENDED;
		say(out, "issuer ", c->issuing_participant, " is suspended from the KP");
		return;
	default:                         /* NONE, or a status unknown here */
		out->decision = KPG_REJECT;
		out->reason = PARTICIPANT_ISSUER_NONE;
		say(out, "issuer ", c->issuing_participant, " is not a KP participant");
		return;
	}
	if (memcmp(c->importing_participant, st->jurisdiction, 3) != 0) {
		out->decision = KPG_REJECT;
		out->reason = PARTICIPANT_WRONG_IMPORTER;
		snprintf(out->detail, sizeof(out->detail),
			 "imported into %.2s, this checkpoint is %s",
			 c->importing_participant, st->jurisdiction);
		return;
	}
	if (scan->issuer_status == KPG_PARTICIPANT_RESTRICTED) {
		out->decision = KPG_REFER;
		out->reason = PARTICIPANT_ISSUER_RESTRICTED;
		say(out, "issuer ", c->issuing_participant, " is under KP restrictions");
		return;
	}
	out->decision = KPG_ACCEPT;
	out->reason = PARTICIPANT_OK;
	say(out, "issuer ", c->issuing_participant, " is a KP member");
}

KPG_PLUGIN_EXPORT = {
	.abi_version = KPG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct kpg_plugin),
	.name = "participant",
	.description = "issuer's KP status; import into this jurisdiction",
	.configure = participant_configure,
	.release = participant_release,
	.evaluate = participant_evaluate,
};
