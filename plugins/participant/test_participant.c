/* The participant plugin, loaded from its built .so through the host: each
 * issuer status, the importing participant, and the config override. */
#include <string.h>

#include "kpg_cunit.h"
#include "kpg_plugin_testkit.h"

static struct kpg_plugin_host *host;     /* a checkpoint of the EU */

static int setup(void)
{
	host = kpg_ptest_host("EU", NULL);
	return host ? 0 : 1;
}

static int teardown(void)
{
	kpg_plugin_host_delete(host);
	return 0;
}

static struct kpg_chain *chain(struct kpg_plugin_host *h, const char *section)
{
	return kpg_ptest_plugin_ok(h, "participant", section);
}

static void refused(const char *section, const char *want)
{
	kpg_ptest_refused(host, "participant", section, want);
}

static void expect(const struct kpg_chain *c, const char *issuer,
		   enum kpg_participant_status issuer_status,
		   const char *importer, enum kpg_participant_status importer_status,
		   enum kpg_decision d, uint32_t reason, const char *detail)
{
	struct kpg_cert cert = { 0 };
	struct kpg_scan_view s = {
		.today = 20250615, .cert = &cert,
		.issuer_status = issuer_status, .importer_status = importer_status,
	};
	struct kpg_verdict v;

	memcpy(cert.issuing_participant, issuer, 3);
	memcpy(cert.importing_participant, importer, 3);
	v = kpg_ptest_eval(c, &s);
	CU_ASSERT_STRING_EQUAL(v.check, "participant");
	CU_ASSERT_EQUAL(v.decision, d);
	CU_ASSERT_EQUAL(v.reason, reason);
	CU_ASSERT_STRING_EQUAL(v.detail, detail);
	if (v.decision != d || v.reason != reason || strcmp(v.detail, detail))
		fprintf(stderr, "\n  %s(%d) -> %s: %u %u '%s'\n", issuer, issuer_status,
			importer, v.decision, v.reason, v.detail);
}

static void test_issuer_status(void)
{
	struct kpg_chain *c = chain(host, "");

	expect(c, "BW", KPG_PARTICIPANT_MEMBER, "EU", KPG_PARTICIPANT_MEMBER,
	       KPG_ACCEPT, 1200, "issuer BW is a KP member");
	expect(c, "ZW", KPG_PARTICIPANT_RESTRICTED, "EU", KPG_PARTICIPANT_MEMBER,
	       KPG_REFER, 1203, "issuer ZW is under KP restrictions");
	expect(c, "CF", KPG_PARTICIPANT_SUSPENDED, "EU", KPG_PARTICIPANT_MEMBER,
	       KPG_REJECT, 1202, "issuer CF is suspended from the KP");
	expect(c, "KE", KPG_PARTICIPANT_NONE, "EU", KPG_PARTICIPANT_MEMBER,
	       KPG_REJECT, 1201, "issuer KE is not a KP participant");
	/* A status this plugin does not know fails closed. */
	expect(c, "KE", (enum kpg_participant_status)4, "EU", KPG_PARTICIPANT_MEMBER,
	       KPG_REJECT, 1201, "issuer KE is not a KP participant");
	kpg_chain_delete(c);
}

static void test_importer_must_be_this_jurisdiction(void)
{
	struct kpg_chain *c = chain(host, "");

	/* Belgium is in the EU, but the EU is the KP participant. */
	expect(c, "BW", KPG_PARTICIPANT_MEMBER, "BE", KPG_PARTICIPANT_NONE,
	       KPG_REJECT, 1204, "imported into BE, this checkpoint is EU");
	expect(c, "BW", KPG_PARTICIPANT_MEMBER, "AE", KPG_PARTICIPANT_MEMBER,
	       KPG_REJECT, 1204, "imported into AE, this checkpoint is EU");
	/* A reject outranks the restricted issuer's refer. */
	expect(c, "ZW", KPG_PARTICIPANT_RESTRICTED, "AE", KPG_PARTICIPANT_MEMBER,
	       KPG_REJECT, 1204, "imported into AE, this checkpoint is EU");
	expect(c, "CF", KPG_PARTICIPANT_SUSPENDED, "AE", KPG_PARTICIPANT_MEMBER,
	       KPG_REJECT, 1202, "issuer CF is suspended from the KP");
	/* The importer's own KP status is not this plugin's concern. */
	expect(c, "BW", KPG_PARTICIPANT_MEMBER, "EU", KPG_PARTICIPANT_SUSPENDED,
	       KPG_ACCEPT, 1200, "issuer BW is a KP member");
	kpg_chain_delete(c);
}

static void test_jurisdiction_override(void)
{
	struct kpg_plugin_host *h = kpg_ptest_host("", NULL);
	struct kpg_chain *c;
	char err[512];

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	/* No jurisdiction from the checkpoint and none configured: refused. */
	CU_ASSERT_PTR_NULL(kpg_ptest_chain(h, "( { name = \"participant\"; } )",
					   err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "<config>:1: plugin participant: the checkpoint's "
			       "jurisdiction '' is not a participant code: set "
			       "jurisdiction = \"XX\"");
	c = chain(h, "jurisdiction = \"AE\";");
	expect(c, "BW", KPG_PARTICIPANT_MEMBER, "AE", KPG_PARTICIPANT_MEMBER,
	       KPG_ACCEPT, 1200, "issuer BW is a KP member");
	expect(c, "BW", KPG_PARTICIPANT_MEMBER, "EU", KPG_PARTICIPANT_MEMBER,
	       KPG_REJECT, 1204, "imported into EU, this checkpoint is AE");
	kpg_chain_delete(c);
	kpg_plugin_host_delete(h);

	/* The config wins over the checkpoint's. */
	c = chain(host, "jurisdiction = \"AE\";");
	expect(c, "BW", KPG_PARTICIPANT_MEMBER, "EU", KPG_PARTICIPANT_MEMBER,
	       KPG_REJECT, 1204, "imported into EU, this checkpoint is AE");
	kpg_chain_delete(c);
}

static void test_config_refused(void)
{
	static const char bad[] = "<config>:2: plugin participant: 'jurisdiction' must be "
				  "a participant code such as \"EU\" or \"BW\"";

	refused("jurisdiction = \"eu\";", bad);
	refused("jurisdiction = \"EUR\";", bad);
	refused("jurisdiction = \"E\";", bad);
	refused("jurisdiction = 7;", bad);
	refused("country = \"EU\";", "<config>:2: plugin participant: unknown key 'country'");
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "issuer status: member, restricted, suspended, none", test_issuer_status },
		{ "importer must be this jurisdiction", test_importer_must_be_this_jurisdiction },
		{ "jurisdiction from config", test_jurisdiction_override },
		{ "bad config refused at its line", test_config_refused },
		{ NULL, NULL },
	};

	return kpg_cunit_run("plugins/participant", tests, setup, teardown);
}
