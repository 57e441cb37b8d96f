"""Records (FHIR R4) and consultation backends, and the embedded store."""
