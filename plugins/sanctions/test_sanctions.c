/* test_sanctions.c — the sanctions plugin, loaded from its built .so
 * through the plugin host: identifiers, every legal form at the end and at
 * the start, every Latin-1 and Latin Extended-A letter, punctuation, roles,
 * per-entry decisions, list files, and refused configs with file:line.
 * Names are made up; none is a real listing. */
#include "plugin_test.h"

enum {
	R_CLEAR = 1500,
	R_IDENTIFIER = 1501,
	R_NAME = 1502,
};

static const char *const LISTS =
	"lists = (\n"
	"  { name = \"EU-833\";\n"
	"    entries = [ \"name:PJSC Alrosa\", \"id:RU-1021400967092\",\n"
	"                \"refer name:Example Trading DMCC # under review\" ]; },\n"
	"  { name = \"WATCH\"; decision = \"refer\"; roles = [ \"importer\" ];\n"
	"    entries = [ \"name:Gold Coast Minerals\", \"reject name:Sahel Gems SARL\",\n"
	"                \"id:GH-CS-000111\" ]; },\n"
	"  { name = \"AUTH\"; roles = [ \"authority\" ];\n"
	"    entries = [ \"name:Ministry of Mines of Atlantis\" ]; },\n"
	"  { name = \"SECOND\"; entries = [ \"name:Alrosa\", \"refer name:Gold Coast Minerals\" ]; }\n"
	");";

/* The verdict when the party of role (0 exporter, 1 importer, 2 authority)
 * has this name and identifier; the other parties are clean. */
static struct kpg_verdict judge(const struct pt *t, unsigned role, const char *name,
				const char *id)
{
	struct pt_cert p;

	pt_cert_init(&p, "BW", 1000, 20240601);
	if (role == 0)
		p.c.exporter = (struct kpg_party){ pt_str(name), pt_str(""), pt_str(id) };
	else if (role == 1)
		p.c.importer = (struct kpg_party){ pt_str(name), pt_str(""), pt_str(id) };
	else
		p.c.issuing_authority = pt_str(name);
	return pt_eval(t, &p);
}

static bool name_hit(const struct pt *t, const char *name)
{
	return judge(t, 0, name, "").decision == KPG_REJECT;
}

static void test_clear(void)
{
	struct pt t;
	struct pt_cert p;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "sanctions", LISTS), 0);
	pt_cert_init(&p, "BW", 1000, 20240601);
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_ACCEPT, R_CLEAR, "no party on a sanctions list"));
	/* empty names and identifiers match nothing */
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "", ""), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, 1, " -- ", " \t"), KPG_ACCEPT, R_CLEAR, NULL));
	pt_free(&t);
}

static void test_identifier(void)
{
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "sanctions", LISTS), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Someone", "RU-1021400967092"), KPG_REJECT, R_IDENTIFIER,
			     "exporter identifier on list EU-833"));
	CU_ASSERT_TRUE(pt_is(judge(&t, 1, "Someone", " RU-1021400967092\t"), KPG_REJECT, R_IDENTIFIER,
			     "importer identifier on list EU-833"));
	/* exact: no case folding, no partial match */
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Someone", "ru-1021400967092"), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Someone", "RU-102140096709"), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Someone", "RU-10214009670921"), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Someone", "RU 1021400967092"), KPG_ACCEPT, R_CLEAR, NULL));
	/* WATCH checks importers only, and refers */
	CU_ASSERT_TRUE(pt_is(judge(&t, 1, "Someone", "GH-CS-000111"), KPG_REFER, R_IDENTIFIER,
			     "importer identifier on list WATCH"));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Someone", "GH-CS-000111"), KPG_ACCEPT, R_CLEAR, NULL));
	/* identifier before name on the same party */
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Alrosa", "RU-1021400967092"), KPG_REJECT, R_IDENTIFIER, NULL));
	pt_free(&t);
}

static void test_name_spellings(void)
{
	static const char *const same[] = {
		"PJSC Alrosa", "ALROSA", "alrosa", "Alrosa PJSC", "PJSC \xc2\xab" "Alrosa\xc2\xbb",
		"Public Joint Stock Company ALROSA", "Alrosa, P.J.S.C.", "Joint-Stock Company Alrosa",
		"AO Alrosa", "Alrosa Ltd", "  Alrosa  ", "Alrosa\xc2\xa0PJSC", "Alrosa PJSC Ltd",
		"OOO Alrosa Co. Ltd.", "\"Alrosa\"", "(Alrosa)", NULL };
	static const char *const other[] = {
		"Alrosa Diamonds", "Alros", "Alrosaa", "Al Rosa", "Al-Rosa", "Ltd Alrosa",
		"Alrosa Stock", "Gmbh Alrosa", NULL };
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "sanctions", LISTS), 0);
	for (unsigned i = 0; same[i]; i++)
		if (!name_hit(&t, same[i])) {
			fprintf(stderr, "\n  missed '%s'\n", same[i]);
			CU_FAIL("a spelling of a listed name missed");
		}
	for (unsigned i = 0; other[i]; i++)
		if (name_hit(&t, other[i])) {
			fprintf(stderr, "\n  caught '%s'\n", other[i]);
			CU_FAIL("another name caught");
		}
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Alrosa PJSC", ""), KPG_REJECT, R_NAME,
			     "exporter name on list EU-833"));
	pt_free(&t);
}

/* Every legal form, after the name and (where written so) before it. */
static void test_legal_forms(void)
{
	static const char *const after[] = {
		"Ltd", "Ltd.", "Limited", "LLC", "L.L.C.", "NV", "N.V.", "BV", "B.V.", "SA", "S.A.",
		"SARL", "S.A.R.L.", "GmbH", "AG", "JSC", "PJSC", "OOO", "AO", "Pty", "Pty Ltd",
		"(Pty) Ltd", "Pty. Ltd.", "Inc", "Inc.", "Incorporated", "Corp", "Corp.",
		"Corporation", "Co", "Co.", "Co., Ltd.", "Company", "PLC", "plc", "LLP", "LP",
		"Limited Liability Partnership", "Public Limited Company", "Limited Liability Company",
		"SpA", "S.p.A.", "SRL", "SAS", "SPRL", "BVBA", "SL", "Ltda", "SA de CV",
		"GmbH & Co. KG", "KG", "SE", "AB", "AS", "ASA", "Oy", "Oyj", "ApS", "KK",
		"Pte Ltd", "Pvt Ltd", "Private Limited", "Sdn Bhd", "Bhd", "DMCC", "FZE", "FZCO",
		"FZC", "FZ-LLC", "ZAO", "OAO", "PAO", "OJSC", "CJSC", "UAB", "SIA",
		"Joint Stock Company", NULL };
	static const char *const before[] = {
		"OOO", "AO", "ZAO", "OAO", "PAO", "JSC", "PJSC", "OJSC", "CJSC", "UAB", "SIA",
		"PT", "Joint Stock Company", "Public Joint Stock Company",
		"Closed Joint Stock Company", "Open Joint-Stock Company",
		"Limited Liability Company", "O.O.O.", NULL };
	static const char *const not_before[] = {
		"Ltd", "GmbH", "SA", "NV", "Co", "Inc", "Pty", "LLC", NULL };
	struct pt t;
	char name[128];

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "sanctions",
		"lists = ( { name = \"L\"; entries = [ \"name:Acme Rough\", \"name:Holding AG\",\n"
		"                                    \"name:S.A.\" ]; } );"), 0);
	CU_ASSERT_TRUE(name_hit(&t, "Acme Rough"));
	for (unsigned i = 0; after[i]; i++) {
		snprintf(name, sizeof(name), "Acme Rough %s", after[i]);
		if (!name_hit(&t, name)) {
			fprintf(stderr, "\n  missed '%s'\n", name);
			CU_FAIL("legal form after the name not cut");
		}
	}
	for (unsigned i = 0; before[i]; i++) {
		snprintf(name, sizeof(name), "%s Acme Rough", before[i]);
		if (!name_hit(&t, name)) {
			fprintf(stderr, "\n  missed '%s'\n", name);
			CU_FAIL("legal form before the name not cut");
		}
	}
	for (unsigned i = 0; not_before[i]; i++) {
		snprintf(name, sizeof(name), "%s Acme Rough", not_before[i]);
		if (name_hit(&t, name)) {
			fprintf(stderr, "\n  caught '%s'\n", name);
			CU_FAIL("an end-only legal form cut at the start");
		}
	}
	/* the last word left is never cut: "Holding AG" is "holding", "S.A." is "sa" */
	CU_ASSERT_TRUE(name_hit(&t, "HOLDING"));
	CU_ASSERT_TRUE(name_hit(&t, "Holding Ltd"));
	CU_ASSERT_TRUE(name_hit(&t, "SA"));
	CU_ASSERT_TRUE(name_hit(&t, "S. A.") == false);     /* "s a": two words */
	CU_ASSERT_FALSE(name_hit(&t, "Diamonds SA"));
	CU_ASSERT_FALSE(name_hit(&t, "AG"));
	pt_free(&t);
}

/* A chain with one list "L" whose entries are fmt (one %s) of each name. */
static void build_names(struct pt *t, const char *fmt, const char *const *names,
			unsigned n)
{
	char body[4096], entry[128];
	size_t used = (size_t)snprintf(body, sizeof(body),
				       "lists = ( { name = \"L\"; entries = [ ");

	for (unsigned i = 0; i < n; i++) {
		snprintf(entry, sizeof(entry), fmt, names[i]);
		used += (size_t)snprintf(body + used, sizeof(body) - used, "%s\"%s\"",
					 i ? ", " : "", entry);
	}
	snprintf(body + used, sizeof(body) - used, " ]; } );");
	CU_ASSERT_EQUAL_FATAL(pt_build(t, "sanctions", body), 0);
}

/* Every letter of Latin-1 Supplement and Latin Extended-A, by the ASCII
 * it must fold to, written out here independently of the plugin. */
static void test_accent_folding(void)
{
	static const struct {
		const char *letters;     /* UTF-8 */
		const char *ascii;
	} folds[] = {
		{ "ÀÁÂÃÄÅàáâãäåĀāĂăĄą", "a" }, { "Ææ", "ae" }, { "ÇçĆćĈĉĊċČč", "c" },
		{ "ÐðĎďĐđ", "d" }, { "ÈÉÊËèéêëĒēĔĕĖėĘęĚě", "e" }, { "ĜĝĞğĠġĢģ", "g" },
		{ "ĤĥĦħ", "h" }, { "ÌÍÎÏìíîïĨĩĪīĬĭĮįİı", "i" }, { "Ĳĳ", "ij" },
		{ "Ĵĵ", "j" }, { "Ķķĸ", "k" }, { "ĹĺĻļĽľĿŀŁł", "l" },
		{ "ÑñŃńŅņŇňŉŊŋ", "n" }, { "ÒÓÔÕÖØòóôõöøŌōŎŏŐő", "o" }, { "Œœ", "oe" },
		{ "ŔŕŖŗŘř", "r" }, { "ŚśŜŝŞşŠšſ", "s" }, { "ß", "ss" }, { "ŢţŤťŦŧ", "t" },
		{ "Þþ", "th" }, { "ÙÚÛÜùúûüŨũŪūŬŭŮůŰűŲų", "u" }, { "Ŵŵ", "w" },
		{ "ÝýÿŶŷŸ", "y" }, { "ŹźŻżŽž", "z" },
	};
	const unsigned n = sizeof(folds) / sizeof(folds[0]);
	const char *ascii[sizeof(folds) / sizeof(folds[0])];
	unsigned letters = 0;
	char name[64];
	struct pt t;

	/* one entry per fold: "name:k<ascii>k" */
	for (unsigned i = 0; i < n; i++)
		ascii[i] = folds[i].ascii;
	build_names(&t, "name:k%sk", ascii, n);
	for (unsigned i = 0; i < sizeof(folds) / sizeof(folds[0]); i++) {
		const char *p = folds[i].letters;

		while (*p) {
			unsigned len = ((unsigned char)*p & 0xE0) == 0xC0 ? 2 : 1;

			snprintf(name, sizeof(name), "K%.*sK", (int)len, p);
			if (!name_hit(&t, name)) {
				fprintf(stderr, "\n  '%.*s' did not fold to '%s'\n", (int)len, p,
					folds[i].ascii);
				CU_FAIL("letter not folded");
			}
			letters++;
			p += len;
		}
	}
	/* 0xC0..0x17F less the multiplication and division signs */
	CU_ASSERT_EQUAL(letters, 0x180 - 0xC0 - 2);
	/* those two are punctuation: "k×k" is two words */
	CU_ASSERT_FALSE(name_hit(&t, "K\xc3\x97K"));
	CU_ASSERT_FALSE(name_hit(&t, "K\xc3\xb7K"));
	pt_free(&t);
}

static void test_accented_names(void)
{
	static const struct {
		const char *cert;
		const char *listed;
	} cases[] = {
		{ "Société Générale des Diamants", "Societe Generale des Diamants" },
		{ "SOCIÉTÉ GÉNÉRALE DES DIAMANTS S.A.", "Societe Generale des Diamants" },
		{ "Socie\xcc\x81te\xcc\x81 Ge\xcc\x81ne\xcc\x81rale des Diamants", "Societe Generale des Diamants" },
		{ "Łódź Diamond Works Sp", "Lodz Diamond Works Sp" },
		{ "Straße Diamanten GmbH", "Strasse Diamanten" },
		{ "Ærø Stones AS", "Aero Stones" },
		{ "Œuvre Brillants SARL", "Oeuvre Brillants" },
		{ "Þórsson Gems ehf", "Thorsson Gems ehf" },
		{ "Ĳsselmeer Diamonds B.V.", "IJsselmeer Diamonds" },
		{ "Dvořák Šťastný Žižka s.r.o.", "Dvorak Stastny Zizka sro" },
		{ "Güneş Elmas A.Ş.", "Gunes Elmas AS" },
		{ "O’Brien Diamonds Ltd", "OBrien Diamonds" },
		{ "O'Brien Diamonds Ltd", "O\xe2\x80\x99" "Brien Diamonds" },
		{ "Acme\xe2\x80\x93Rough", "Acme Rough" },
	};
	const unsigned n = sizeof(cases) / sizeof(cases[0]);
	const char *listed[sizeof(cases) / sizeof(cases[0])];
	struct pt t;

	for (unsigned i = 0; i < n; i++)
		listed[i] = cases[i].listed;
	build_names(&t, "name:%s", listed, n);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!name_hit(&t, cases[i].cert)) {
			fprintf(stderr, "\n  '%s' missed '%s'\n", cases[i].cert, cases[i].listed);
			CU_FAIL("accented spelling missed");
		}
	/* other scripts are compared byte for byte: no case folding there */
	pt_free(&t);
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "sanctions",
		"lists = ( { name = \"C\"; entries = [ \"name:\xd0\x90\xd0\x9b\xd0\xa0\xd0\x9e\xd0\xa1\xd0\x90 PJSC\" ]; } );"), 0);
	CU_ASSERT_TRUE(name_hit(&t, "PJSC \xd0\x90\xd0\x9b\xd0\xa0\xd0\x9e\xd0\xa1\xd0\x90"));
	CU_ASSERT_FALSE(name_hit(&t, "\xd0\xb0\xd0\xbb\xd1\x80\xd0\xbe\xd1\x81\xd0\xb0"));
	pt_free(&t);
}

static void test_punctuation(void)
{
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "sanctions",
		"lists = ( { name = \"P\"; entries = [ \"name:ACME Rough Trading\" ]; } );"), 0);
	CU_ASSERT_TRUE(name_hit(&t, "Acme-Rough-Trading"));
	CU_ASSERT_TRUE(name_hit(&t, "Acme   Rough\tTrading"));
	CU_ASSERT_TRUE(name_hit(&t, "ACME/ROUGH/TRADING"));
	CU_ASSERT_TRUE(name_hit(&t, "A.C.M.E. Rough Trading"));
	CU_ASSERT_TRUE(name_hit(&t, "Acme, Rough & Trading"));
	CU_ASSERT_TRUE(name_hit(&t, "Acme\xe3\x80\x80Rough\xe2\x80\x83Trading"));
	/* a dot joins: "Acme.Rough" is one word */
	CU_ASSERT_FALSE(name_hit(&t, "Acme.Rough Trading"));
	CU_ASSERT_FALSE(name_hit(&t, "AcmeRough Trading"));
	pt_free(&t);
}

static void test_roles_and_decisions(void)
{
	struct pt t;
	struct pt_cert p;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "sanctions", LISTS), 0);
	/* WATCH: importers only, refer by default, one entry rejects */
	CU_ASSERT_TRUE(pt_is(judge(&t, 1, "Sahel Gems", ""), KPG_REJECT, R_NAME,
			     "importer name on list WATCH"));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Sahel Gems", ""), KPG_ACCEPT, R_CLEAR, NULL));
	/* AUTH: authorities only */
	CU_ASSERT_TRUE(pt_is(judge(&t, 2, "Ministry of Mines of Atlantis", ""), KPG_REJECT, R_NAME,
			     "authority name on list AUTH"));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Ministry of Mines of Atlantis", ""), KPG_ACCEPT, R_CLEAR, NULL));
	/* an entry's own decision word */
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Example Trading", ""), KPG_REFER, R_NAME,
			     "exporter name on list EU-833"));
	/* one name on two lists: WATCH refers importers, SECOND refers anyone */
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Gold Coast Minerals Ltd", ""), KPG_REFER, R_NAME,
			     "on list SECOND"));
	CU_ASSERT_TRUE(pt_is(judge(&t, 1, "Gold Coast Minerals Ltd", ""), KPG_REFER, R_NAME,
			     "on list WATCH"));
	/* "Alrosa" on EU-833 and SECOND, both reject: the earlier list */
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Alrosa", ""), KPG_REJECT, R_NAME, "on list EU-833"));

	/* the most severe party wins; a tie goes to the earlier party */
	pt_cert_init(&p, "BW", 1000, 20240601);
	p.c.exporter.name = pt_str("Example Trading DMCC");
	p.c.importer.name = pt_str("Alrosa");
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_REJECT, R_NAME, "importer name on list EU-833"));
	p.c.importer.name = pt_str("Gold Coast Minerals");
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_REFER, R_NAME, "exporter name on list EU-833"));
	p.c.issuing_authority = pt_str("Ministry of Mines of Atlantis");
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_REJECT, R_NAME, "authority name on list AUTH"));
	pt_free(&t);
}

static void test_odd_certificate_names(void)
{
	struct pt t;
	char big[1200];

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "sanctions", LISTS), 0);
	/* malformed UTF-8 is kept as bytes: no crash, no false match */
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "\xff\xfe Alrosa", ""), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Alrosa \xc3", ""), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Alrosa \xe0\x80\xaf", ""), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Alrosa \xed\xa0\x80", ""), KPG_ACCEPT, R_CLEAR, NULL));
	/* a malformed byte is not a separator either */
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "\xff" "Alrosa", ""), KPG_ACCEPT, R_CLEAR, NULL));
	/* names longer than any listed one, beyond the stack buffer */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, big, big), KPG_ACCEPT, R_CLEAR, NULL));
	/* blanks and punctuation, however long, collapse */
	memset(big, ' ', sizeof(big) - 1);
	memcpy(big + 500, "Alrosa", 6);
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, big, ""), KPG_REJECT, R_NAME, NULL));
	pt_free(&t);
}

static void test_list_file(void)
{
	struct pt t;

	pt_write("sdn.list",
		 "# example list: one entry a line\n"
		 "id:  DE-HRB-12345   # blanks around the identifier are not part of it\n"
		 "name:Kivu Rough Traders SPRL\n"
		 "refer   name:Border Gems\n"
		 "reject id:CD-RCCM-99\n"
		 "\n"
		 "name:Unit #3 Mining\n", NULL, 0);
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "sanctions",
		"lists = ( { name = \"SDN\"; file = \"sdn.list\"; decision = \"reject\";\n"
		"            entries = [ \"name:Inline Co\" ]; } );"), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "x", "DE-HRB-12345"), KPG_REJECT, R_IDENTIFIER,
			     "exporter identifier on list SDN"));
	CU_ASSERT_TRUE(pt_is(judge(&t, 1, "Kivu Rough Traders", ""), KPG_REJECT, R_NAME, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, 1, "Border Gems Ltd", ""), KPG_REFER, R_NAME, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "x", "CD-RCCM-99"), KPG_REJECT, R_IDENTIFIER, NULL));
	/* '#' after a blank starts a comment, even inside a name */
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Unit", ""), KPG_REJECT, R_NAME, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, 0, "Inline", ""), KPG_REJECT, R_NAME, NULL));
	pt_free(&t);
	/* an empty file is an empty list, not an error */
	pt_write("empty.list", "# nothing listed yet\n", NULL, 0);
	CU_ASSERT_TRUE(pt_accepted("sanctions", "lists = ( { name = \"E\"; file = \"empty.list\"; } );"));
}

static bool file_refused(const char *text, unsigned line, const char *why)
{
	return pt_file_refused("sanctions",
		"lists = ( { name = \"B\"; file = \"bad.list\"; } );", "bad.list",
		text, line, why);
}

static void test_refused(void)
{
	char body[1024], text[400];

	CU_ASSERT_TRUE(pt_refused("sanctions", "list = ( );",
				  "<config>:2: plugin sanctions: unknown key 'list'"));
	CU_ASSERT_TRUE(pt_refused("sanctions", "", "<config>:1: plugin sanctions: 'lists' is required"));
	CU_ASSERT_TRUE(pt_refused("sanctions", "lists = ( );",
				  "<config>:2: plugin sanctions: 'lists' is required"));
	CU_ASSERT_TRUE(pt_refused("sanctions", "lists = \"eu.list\";",
				  "<config>:2: plugin sanctions: 'lists' must be a list"));
	CU_ASSERT_TRUE(pt_refused("sanctions", "lists = ( \"eu.list\" );",
				  "<config>:2: plugin sanctions: a list must be a group"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\";\n  entry = [ \"id:1\" ]; } );",
		"<config>:3: plugin sanctions: unknown key 'entry'"));
	CU_ASSERT_TRUE(pt_refused("sanctions", "lists = ( { entries = [ \"id:1\" ]; } );",
				  "<config>:2: plugin sanctions: 'name' is required"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"A-very-long-list-name-of-32-bytes\"; entries = [ \"id:1\" ]; } );",
		"<config>:2: plugin sanctions: list name \"A-very-long-list-name-of-32-bytes\": 1 to 31"));
	CU_ASSERT_TRUE(pt_refused("sanctions", "lists = ( { name = \"\"; entries = [ \"id:1\" ]; } );",
				  "list name \"\": 1 to 31"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\"; entries = [ \"id:1\" ]; },\n"
		"          { name = \"X\"; entries = [ \"id:2\" ]; } );",
		"<config>:3: plugin sanctions: list \"X\" named twice"));
	CU_ASSERT_TRUE(pt_refused("sanctions", "lists = ( { name = \"X\"; } );",
				  "<config>:2: plugin sanctions: list \"X\" has neither 'file' nor 'entries'"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\"; entries = [ \"id:1\" ];\n  decision = \"accept\"; } );",
		"<config>:3: plugin sanctions: 'decision' = \"accept\""));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\"; entries = [ \"id:1\" ];\n  roles = [ \"exporter\",\n \"buyer\" ]; } );",
		"<config>:4: plugin sanctions: role \"buyer\": must be exporter, importer or authority"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\"; entries = [ \"id:1\" ];\n  roles = [ ]; } );",
		"<config>:3: plugin sanctions: 'roles' is empty"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\"; entries = [ \"id:1\",\n  \"Alrosa\" ]; } );",
		"<config>:3: plugin sanctions: entry \"Alrosa\": expected [reject|refer] id:<identifier> or name:<name>"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\"; entries = [ \"name: -- \" ]; } );",
		"<config>:2: plugin sanctions: entry \"name: -- \": name has no letter or digit to match"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\"; entries = [ \"id:   \" ]; } );",
		"<config>:2: plugin sanctions: entry \"id:   \": empty"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\"; entries = [ \"warn id:1\" ]; } );",
		"entry \"warn id:1\": expected"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\"; entries = [ 12 ]; } );",
		"<config>:2: plugin sanctions: 'entries' item 1 must be a string"));
	CU_ASSERT_TRUE(pt_refused("sanctions",
		"lists = ( { name = \"X\";\n  file = \"missing.list\"; } );",
		"<config>:3: plugin sanctions: cannot read list"));
	memset(text, 'n', 256);
	text[256] = '\0';
	snprintf(body, sizeof(body), "lists = ( { name = \"X\"; entries = [ \"name:%s\" ]; } );", text);
	CU_ASSERT_TRUE(pt_refused("sanctions", body, ": longer than 255 bytes"));
	text[255] = '\0';
	snprintf(body, sizeof(body), "lists = ( { name = \"X\"; entries = [ \"name:%s\" ]; } );", text);
	CU_ASSERT_TRUE(pt_accepted("sanctions", body));

	CU_ASSERT_TRUE(file_refused("id:1\nAlrosa PJSC\n", 2,
				    "expected [reject|refer] id:<identifier> or name:<name>"));
	CU_ASSERT_TRUE(file_refused("id:1\n\n# c\nname:...\n", 4, "name has no letter or digit"));
	CU_ASSERT_TRUE(file_refused("refer\n", 1, "expected [reject|refer]"));
	CU_ASSERT_TRUE(file_refused("id:A\x01" "B\n", 1, "control character"));
	memset(text, 'n', 300);
	text[300] = '\0';
	snprintf(body, sizeof(body), "id:1\nname:%s\n", text);
	CU_ASSERT_TRUE(file_refused(body, 2, "entry longer than 255 bytes"));
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "clean parties accepted", test_clear },
		{ "identifiers match exactly", test_identifier },
		{ "spellings of a listed name", test_name_spellings },
		{ "legal forms cut at either end", test_legal_forms },
		{ "every Latin-1 and Extended-A letter folds", test_accent_folding },
		{ "accented names", test_accented_names },
		{ "punctuation and blanks", test_punctuation },
		{ "roles, per-entry decisions, severity", test_roles_and_decisions },
		{ "odd certificate names", test_odd_certificate_names },
		{ "list file", test_list_file },
		{ "bad config refused", test_refused },
		{ NULL, NULL },
	};

	return kpg_cunit_run("plugins/sanctions", tests, pt_setup, pt_teardown);
}
