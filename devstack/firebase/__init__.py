"""The Firebase Auth emulator (npm firebase-tools) for the patient phone login, run offline."""
