"""Runs the Sickle, pyoai and oaipmh-scythe clients against a running moisson serving the demo store.

    pip install sickle pyoai oaipmh-scythe 'lxml<5'    # pyoai 2.5 needs lxml 4
    cargo run --release -- --data /tmp/demo serve --bind 127.0.0.1:18095 &
    python3 tests/clients/check_clients.py [BASE_URL]

Exits non-zero when any check fails. Set MOISSON_SERVER__PAGE_SIZE=3 on the server to make
every client follow resumption tokens.
"""
import sys, datetime
base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:18095/oai"
fails = []
def check(name, cond, detail=""):
    if not cond:
        fails.append(f"{name}: {detail}")
    print(("ok  " if cond else "FAIL"), name, detail if not cond else "")

# Sickle
from sickle import Sickle
s = Sickle(base)
ident = s.Identify()
check("sickle Identify", ident.repositoryName.startswith("moisson"), ident.repositoryName)
recs = list(s.ListRecords(metadataPrefix="oai_dc", ignore_deleted=False))
check("sickle ListRecords count", len(recs) == 11, len(recs))
check("sickle deleted seen", any(r.deleted for r in recs))
hdrs = list(s.ListIdentifiers(metadataPrefix="oai_dc"))
# The demo's identifiers carry the server's repositoryIdentifier.
ids = [h.identifier for h in hdrs]
def demo_id(suffix):
    return next(i for i in ids if i.endswith(":" + suffix))
check("sickle ListIdentifiers", len(hdrs) == 11, len(hdrs))
sets = list(s.ListSets())
check("sickle ListSets", len(sets) >= 6, len(sets))
fmts = list(s.ListMetadataFormats())
check("sickle ListMetadataFormats", [f.metadataPrefix for f in fmts] == ["oai_dc"])
r = s.GetRecord(identifier=demo_id("bulletin/44933"), metadataPrefix="oai_dc")
check("sickle GetRecord", r.metadata["title"][0].startswith("NTIC"), r.metadata.get("title"))
from sickle.oaiexceptions import IdDoesNotExist, NoRecordsMatch, CannotDisseminateFormat, BadArgument
try:
    s.GetRecord(identifier="oai:x:none", metadataPrefix="oai_dc"); check("sickle idDoesNotExist", False)
except IdDoesNotExist: check("sickle idDoesNotExist", True)
try:
    list(s.ListRecords(metadataPrefix="oai_dc", **{"from": "2030-01-01"})); check("sickle noRecordsMatch", False)
except NoRecordsMatch: check("sickle noRecordsMatch", True)
# paging with small pages via sets
setrecs = list(s.ListRecords(metadataPrefix="oai_dc", set="collection"))
check("sickle set hierarchy", len(setrecs) >= 5, len(setrecs))
s2 = Sickle(base, http_method="POST")
check("sickle POST", len(list(s2.ListIdentifiers(metadataPrefix="oai_dc"))) == 11)

# pyoai
from oaipmh.client import Client
from oaipmh.metadata import MetadataRegistry, oai_dc_reader
reg = MetadataRegistry(); reg.registerReader("oai_dc", oai_dc_reader)
c = Client(base, reg)
i = c.identify()
check("pyoai identify", i.repositoryName().startswith("moisson"))
check("pyoai granularity", i.granularity() == "YYYY-MM-DDThh:mm:ssZ", i.granularity())
check("pyoai earliest", isinstance(i.earliestDatestamp(), datetime.datetime))
recs = list(c.listRecords(metadataPrefix="oai_dc"))
check("pyoai listRecords", len(recs) == 11, len(recs))
ids = list(c.listIdentifiers(metadataPrefix="oai_dc", from_=datetime.datetime(2018,1,1)))
check("pyoai listIdentifiers from", len(ids) >= 8, len(ids))
sets = list(c.listSets())
check("pyoai listSets", len(sets) >= 6, len(sets))
h, m, a = c.getRecord(identifier=demo_id("notice/1001"), metadataPrefix="oai_dc")
check("pyoai getRecord", m.getField("title")[0].startswith("Les biblioth"), m.getField("title"))
fm = c.listMetadataFormats()
check("pyoai listMetadataFormats", fm[0][0] == "oai_dc")

# oaipmh-scythe
from oaipmh_scythe import Scythe
with Scythe(base) as sc:
    check("scythe identify", sc.identify().repositoryName.startswith("moisson"))
    recs = list(sc.list_records(metadata_prefix="oai_dc", ignore_deleted=False))
    check("scythe list_records", len(recs) == 11, len(recs))
    ids = list(sc.list_identifiers(metadata_prefix="oai_dc"))
    check("scythe list_identifiers", len(ids) == 11, len(ids))
    check("scythe list_sets", len(list(sc.list_sets())) >= 6)
    r = sc.get_record(identifier=demo_id("notice/1002"), metadata_prefix="oai_dc")
    check("scythe get_record", "Harvesting" in r.metadata["title"][0])
print("FAILURES:", fails)
sys.exit(1 if fails else 0)
