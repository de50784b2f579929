/**
 * Positioned, windowed reads of a file for the binary loaders (GGUF, ONNX): the structure of a file is parsed from a
 * small window that slides over it, so a 10 GB model's header is read without ever touching its weights.
 *
 * Every request is checked against the file size first, and a caller states the most it is willing to read at once,
 * so a hostile length can never make us allocate more than that.
 */
import { promises as fsp } from 'node:fs';
import { ModelLensError, badInput } from '../errors';

const DEFAULT_WINDOW = 1 << 20;

/** Opens `file` read-only; missing, unreadable and non-regular files become user-facing errors. */
export async function openFileHandle(file: string, what: string): Promise<{ handle: fsp.FileHandle; size: number }> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT') throw new ModelLensError('not-found', 'the file does not exist', file, 'Check the path.');
    if (code === 'EACCES' || code === 'EPERM') throw badInput(file, 'the file cannot be read (permission denied)', 'Check its permissions.');
    if (code === 'EISDIR') throw badInput(file, `this is a folder, not ${what}`, `Open the ${what} itself.`);
    throw badInput(file, `the file cannot be opened (${code ?? String(error)})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw badInput(file, `this is not a regular file, so not ${what}`, `Open the ${what} itself.`);
    return { handle, size: stat.size };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * A file read through a sliding window. `ensure(position, length)` makes a range available (reading it if needed);
 * `view(position, length)` then returns it without copying. Ranges past the end of the file are a truncated file.
 */
export class WindowedFile {
  private window = new Uint8Array(0);
  private windowStart = 0;
  /** The reusable window buffer; a request larger than the window size gets a buffer of its own. */
  private scratch = new Uint8Array(0);

  private constructor(
    readonly file: string,
    readonly size: number,
    private readonly handle: fsp.FileHandle,
    private readonly what: string,
    private readonly windowSize: number,
  ) {}

  /** Opens `file`; `what` names the format in messages ("a GGUF file"). */
  static async open(file: string, what: string, windowSize = DEFAULT_WINDOW): Promise<WindowedFile> {
    const { handle, size } = await openFileHandle(file, what);
    return new WindowedFile(file, size, handle, what, windowSize);
  }

  /** Bytes read from disk so far (for tests: a header parse must not read the weights). */
  bytesRead = 0;

  async close(): Promise<void> {
    await this.handle.close();
  }

  /** Whether [position, position + length) is already in the window. */
  has(position: number, length: number): boolean {
    return position >= this.windowStart && position + length <= this.windowStart + this.window.byteLength;
  }

  /**
   * Makes [position, position + length) readable with `view`. `what` describes the bytes for the truncation message.
   * `length` must already have been checked by the caller against a sane limit (it is checked against the file here).
   */
  async ensure(position: number, length: number, what: string): Promise<void> {
    if (this.has(position, length)) return;
    this.checkRange(position, length, what);
    const size = Math.min(Math.max(length, this.windowSize), this.size - position);
    if (size <= this.windowSize && this.scratch.byteLength < this.windowSize) this.scratch = new Uint8Array(this.windowSize);
    const buffer = size <= this.windowSize ? this.scratch : new Uint8Array(size);
    this.window = new Uint8Array(0); // the old window's bytes are about to be overwritten
    let done = 0;
    while (done < size) {
      const { bytesRead } = await this.handle.read(buffer, done, size - done, position + done);
      if (bytesRead <= 0) break;
      done += bytesRead;
    }
    this.bytesRead += done;
    if (done < length) {
      throw badInput(this.file, `the file ended at byte ${position + done} while reading ${what}`, `The file is truncated; copy or download the ${this.what} again.`);
    }
    this.window = buffer.subarray(0, done);
    this.windowStart = position;
  }

  /** A view of bytes made available by `ensure`. Valid until the next `ensure`. */
  view(position: number, length: number): Uint8Array {
    if (!this.has(position, length)) throw new Error(`WindowedFile.view(${position}, ${length}) outside the window: call ensure first`);
    const at = position - this.windowStart;
    return this.window.subarray(at, at + length);
  }

  /** A fresh copy of [position, position + length). */
  async read(position: number, length: number, what: string): Promise<Uint8Array> {
    this.checkRange(position, length, what);
    if (this.has(position, length)) return this.view(position, length).slice();
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, Math.min(length - done, 1 << 30), position + done);
      if (bytesRead <= 0) {
        throw badInput(this.file, `the file ended at byte ${position + done} while reading ${what}`, `The file is truncated; copy or download the ${this.what} again.`);
      }
      done += bytesRead;
    }
    this.bytesRead += done;
    return out;
  }

  /** Throws a truncation error when [position, position + length) is not inside the file. */
  checkRange(position: number, length: number, what: string): void {
    if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0 || position + length > this.size) {
      throw badInput(
        this.file,
        `${what} needs bytes ${position}..${position + length} but the file has only ${this.size}`,
        `The file is truncated or corrupt; copy or download the ${this.what} again.`,
      );
    }
  }
}
