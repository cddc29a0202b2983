/**
 * The credential-store contract (test/helpers/store-contract.ts) for both
 * embedded backends: the default directory (one file per credential) and the
 * legacy single JSON file it migrates from.
 */
import { defineStoreSuite, dirHarness, fileHarness } from '../helpers/store-contract';

defineStoreSuite('directory, one file per credential', dirHarness);
defineStoreSuite('single JSON file (format 1)', fileHarness);
