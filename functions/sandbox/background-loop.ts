/** A loop that runs in the background from start() until stop() has seen its current pass end. */
export abstract class BackgroundLoop {
  protected running = false;
  private loop: Promise<void> = Promise.resolve();

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.stopped();
  }

  /** The loop: passes while `running`. */
  protected abstract run(): Promise<void>;

  /** What stop() releases once the loop has ended. */
  protected stopped(): void {}
}
