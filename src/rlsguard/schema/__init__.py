"""What the database is, read only: the catalog as records (``catalog``), policy
expressions judged with PostgreSQL's parser (``expressions``), the tenancy model built
from both and the config (``tenancy``), the objects rules run on (``targets``) and the
schema's fingerprint (``fingerprint``)."""
