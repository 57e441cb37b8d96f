"""Doctor dictation: free or cued speech organised into the 8 outpatient record sections, voice commands,
and the note saved as a FHIR Composition authored by the doctor. Entry: :class:`DictationDialogue`."""
